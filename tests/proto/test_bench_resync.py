"""The IMAP resync benchmark (bench/imap_resync.py) keeps working: a short
run against the real server must report figures, find both ways of
syncing agree with the server, and QRESYNC must move fewer bytes. A check
of the tool, not a measurement (make bench BENCH=imap_resync measures)."""
import json
import os
import subprocess
import sys

from conftest import BIN, ROOT

SCRIPT = os.path.join(ROOT, "bench", "imap_resync.py")


def test_resync_run():
    r = subprocess.run([sys.executable, SCRIPT, "--binary", BIN, "--json",
                        "--messages", "300", "--flags", "6", "--expunges", "3",
                        "--appends", "2", "--repeat", "1"],
                       capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    out = json.loads(r.stdout)
    assert out["same_picture"] and out["messages_after"] == 299
    assert out["qresync_saw"] == {"changed": 6, "vanished": 3, "new": 2}
    full, qr = out["full"], out["qresync"]
    for f in (full, qr, out["select"]):
        assert f["seconds"] > 0 and f["imap_received"] > 0
        assert f["tcp_received"] >= f["imap_received"]      # TLS on top
    assert qr["imap_received"] * 5 < full["imap_received"]
    assert out["server_exit"] == 0 and out["server_problems"] == []
