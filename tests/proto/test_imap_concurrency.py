"""Many IMAP sessions of one user on one folder at once, across both worker
processes: APPEND (with dates, as clients saving a sent message give them),
FETCH, STORE, EXPUNGE and SELECT in a random mix. Every APPEND is answered
OK with an APPENDUID under which the message is found afterwards; no
command is answered NO."""
import os
import random
import re
import threading
import time

import pytest

from imap_sel_util import ALICE, imap_server, login, simple_message

SESSIONS = 10
SECONDS = 8
SEED_MESSAGES = 40
DATES = ('"01-Jan-2001 00:00:00 +0000"', '"14-Feb-2019 08:30:00 +0100"', None)


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = imap_server(tmp_path_factory.mktemp("conc"), workers=2)
    yield s
    s.check_clean_exit()


def worker(srv, n, stop, appended, failures):
    rnd = random.Random(n)
    m = login(srv, "imaps", ALICE)
    seq = 0

    def check(what, typ, data):
        if typ != "OK":
            failures.append(f"session {n}: {what}: {typ} {data}")
        return typ == "OK"

    m.select("INBOX")
    while not stop.is_set():
        op = rnd.choice(("append", "append", "fetch", "store", "expunge", "select"))
        if op == "append":
            seq += 1
            mid = f"s{n}.{seq}"
            date = rnd.choice(DATES)
            typ, data = m.append("INBOX", "(\\Seen)" if seq % 2 else None, date,
                                 simple_message(mid, body=f"{mid} " * 50 + "\r\n"))
            if check("APPEND", typ, data):
                code = re.search(rb"\[APPENDUID (\d+) (\d+)\]", data[0])
                if code is None:
                    failures.append(f"session {n}: APPEND without APPENDUID: {data}")
                else:
                    appended.append((int(code[1]), int(code[2]), mid))
        elif op == "fetch":
            check("FETCH", *m.fetch("1:*", "(UID FLAGS)"))
        elif op == "store":
            # The seed messages are the ones sessions delete; what they
            # append only gets flags.
            uid = rnd.randint(1, SEED_MESSAGES)
            flag = "\\Deleted" if rnd.random() < 0.5 else "\\Flagged"
            check("UID STORE", *m.uid("STORE", str(uid), "+FLAGS", f"({flag})"))
            check("STORE", *m.store("1:5", "+FLAGS", "(\\Answered)"))
        elif op == "expunge":
            check("EXPUNGE", *m.expunge())
        else:
            check("SELECT", *m.select("INBOX"))
    m.logout()


def test_concurrent_append_expunge_sync(srv):
    seed = login(srv, "imaps", ALICE)
    for i in range(SEED_MESSAGES):
        typ, _ = seed.append("INBOX", None, None, simple_message(f"seed{i}"))
        assert typ == "OK"
    seed.logout()

    stop = threading.Event()
    appended, failures = [], []
    threads = [threading.Thread(target=worker, args=(srv, n, stop, appended, failures))
               for n in range(SESSIONS)]
    for t in threads:
        t.start()
    time.sleep(SECONDS)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    assert not failures, failures[:10]
    assert len(appended) > 50, len(appended)

    # Every APPEND that got OK is there, under its APPENDUID.
    m = login(srv, "imaps", ALICE)
    typ, data = m.select("INBOX")
    assert typ == "OK"
    uidvalidity = int(m.response("UIDVALIDITY")[1][0])
    found = {}
    typ, data = m.uid("FETCH", "1:*", "(UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    for item in data:
        if isinstance(item, tuple):
            uid = int(re.search(rb"UID (\d+)", item[0])[1])
            subject = re.search(rb"Subject: (\S+)", item[1])
            found[uid] = subject[1].decode() if subject else None
    missing = [(v, u, mid) for v, u, mid in appended
               if v != uidvalidity or found.get(u) != mid]
    assert not missing, (len(missing), missing[:10])
    assert len({u for _, u, _ in appended}) == len(appended)  # UIDs unique
    m.logout()

    # Both workers served sessions.
    pids = set(re.findall(r"sealpost\[(\d+)\]: info: \w+ imap auth ok",
                          srv.log_text()))
    assert len(pids) == 2, pids
    # Nothing was left behind in tmp/.
    assert os.listdir(srv.maildir(ALICE, "") + "/tmp") == []
