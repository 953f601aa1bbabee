"""Group commit: messages that end together share their folder fsyncs;
every 250 still means the message is in the Maildir, exactly once."""
import concurrent.futures
import os

from mailserver import Raw, Server

SENDERS = 12
MESSAGES = 5


def send_all(srv, n):
    c = Raw(srv.ports["smtp"])
    c.reply()
    c.cmd("EHLO client.test")
    acked = []
    for i in range(MESSAGES):
        tag = f"sender{n}-msg{i}"
        c.send(b"MAIL FROM:<s@example.org>\r\nRCPT TO:<alice@example.test>\r\n"
               b"RCPT TO:<bob@example.test>\r\nDATA\r\n")
        replies = [c.reply() for _ in range(4)]
        assert [r[0][:3] for r in replies] == [b"250", b"250", b"250", b"354"]
        c.send(f"Subject: {tag}\r\n\r\n{tag}\r\n.\r\n".encode())
        assert c.reply()[0][:3] == b"250"
        acked.append(tag)
    c.cmd("QUIT")
    c.close()
    return acked


def subjects(srv, address):
    out = []
    for sub in ("new", "cur"):
        for m in srv.messages(address, sub):
            for line in m.split(b"\r\n"):
                if line.startswith(b"Subject: "):
                    out.append(line[9:].decode())
    return sorted(out)


def test_concurrent_senders_all_delivered_once(tmp_path):
    srv = Server(tmp_path, services=("smtp",),
                 users=("alice@example.test", "bob@example.test"))
    try:
        with concurrent.futures.ThreadPoolExecutor(SENDERS) as pool:
            acked = sorted(t for r in pool.map(lambda n: send_all(srv, n),
                                               range(SENDERS)) for t in r)
        assert len(acked) == SENDERS * MESSAGES
        # Every acknowledged message is in both Maildirs exactly once, and
        # the spool is empty.
        assert subjects(srv, "alice@example.test") == acked
        assert subjects(srv, "bob@example.test") == acked
        assert os.listdir(os.path.join(srv.data, "spool")) == []
    finally:
        srv.check_clean_exit()
