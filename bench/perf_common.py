"""Helpers of the per-connection and login benchmarks (idle_conns.py,
login_rate.py): a throw-away server with extra settings, PSS of its
processes, the machine's RSA-2048 sign time, small async IMAP/SMTP steps.

Python standard library only; Linux (/proc)."""
import asyncio
import ssl
import time

import bench_server

# CPU figures drift with this VM's speed: every report carries the sign
# time `openssl speed` measured in the same run.
rsa2048_sign_ms = bench_server.rsa2048_sign_ms


def proc_kib(pid, keys=("Pss", "Rss")):
    """kB figures of /proc/<pid>/smaps_rollup (0 for a gone process)."""
    return bench_server.proc_kb_fields(pid, "smaps_rollup", keys)


def server_pss_kib(procs):
    """PSS and RSS summed over the master and its workers (KiB)."""
    total = {"Pss": 0, "Rss": 0}
    for pid in procs.pids():
        for k, v in proc_kib(pid).items():
            total[k] += v
    return total


def start_server(binary, root, workers, services, extra_conf="", key="rsa:2048"):
    """A BenchServer with extra top-level settings, started."""
    srv = bench_server.BenchServer(binary, root, workers=workers, key=key,
                                   services=services)
    if extra_conf:
        with open(srv.conf) as f:
            text = f.read()
        with open(srv.conf, "w") as f:
            f.write(extra_conf.rstrip("\n") + "\n" + text)
    srv.start()
    return srv


def client_ctx(srv):
    ctx = ssl.create_default_context(cafile=srv.cafile)
    return ctx


async def read_line(reader, timeout=60):
    line = await asyncio.wait_for(reader.readline(), timeout)
    if not line:
        raise EOFError("server closed")
    return line


async def imap_cmd(reader, writer, tag, text, timeout=60):
    """Send one IMAP command; read up to its tagged reply; the lines."""
    writer.write(f"{tag} {text}\r\n".encode())
    lines = []
    while True:
        line = await read_line(reader, timeout)
        lines.append(line)
        if line.startswith(tag.encode() + b" "):
            if not line.startswith(tag.encode() + b" OK"):
                raise RuntimeError(f"IMAP {text.split()[0]}: {line!r}")
            return lines


async def smtp_reply(reader, timeout=60):
    lines = [await read_line(reader, timeout)]
    while lines[-1][3:4] == b"-":
        lines.append(await read_line(reader, timeout))
    return lines


def percentile(vals, q):
    vals = sorted(vals)
    return vals[min(len(vals) - 1, int(len(vals) * q))] if vals else None


def now():
    return time.perf_counter()
