"""The outbound benchmark (bench/outbound_bench.py) keeps working: a short
run of sealpost and Postfix relaying to smtp-sink, every acknowledged
message at the sink, figures printed. A check of the tool, not a
measurement (make bench-outbound measures)."""
import os
import re
import subprocess
import sys

import pytest

from conftest import BIN, ROOT

SCRIPT = os.path.join(ROOT, "bench", "outbound_bench.py")


@pytest.mark.skipif(os.geteuid() != 0, reason="Postfix's master must be started by root")
def test_both_servers_relay_everything():
    r = subprocess.run([sys.executable, SCRIPT, "--binary", BIN, "--messages", "60",
                        "--sessions", "3", "-v"], capture_output=True, text=True,
                       timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    for server in ("sealpost", "postfix"):
        assert re.search(rf"^  {server} +\d+ msg/s +[\d.]+ ms CPU/msg  60 acknowledged, "
                         r"60 at the sink$", r.stdout, re.M), r.stdout
    assert re.search(r"^\| sealpost \| \d+ \| [\d.]+ ms \|$", r.stdout, re.M)
    assert re.search(r"^\| postfix \| \d+ \| [\d.]+ ms \|$", r.stdout, re.M)
    assert "sealpost-queue" in r.stdout and "qmgr" in r.stdout
