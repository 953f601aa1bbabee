#!/usr/bin/env python3
"""Run the libFuzzer harnesses and report what each did.

    tests/fuzz/run_fuzz.py [--seconds N] [HARNESS ...]      (make fuzz)

Each harness build/fuzz/fuzz_NAME runs for N seconds, one after the other,
on its persistent corpus build/fuzz-corpus/fuzz_NAME/ (created on the first
run; what libFuzzer finds is added there) together with the tracked seeds in
tests/fuzz/corpus/fuzz_NAME/, which are read on every run and never written.
A crash, a failed check, a leak, a timeout (an input that takes over
FUZZ_TIMEOUT seconds) or running out of memory stops that harness and leaves
the input in build/fuzz-artifacts/fuzz_NAME/.

Printed per harness: execs, execs/s, coverage (cov: edges, ft: features,
from libFuzzer's final status line), the corpus libFuzzer kept in memory and
the files in the persistent corpus, and the crash with its artifact path.
The exit status is 1 when any harness crashed. tests/run.py (make test)
runs the same function for a few seconds per harness.
"""
import argparse
import glob
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SEEDS = os.path.join(ROOT, "tests/fuzz/corpus")
# An input slower than this is a hang: reported like a crash.
FUZZ_TIMEOUT = 30
# Inputs grow to at least this many bytes (more when a seed is longer).
MAX_LEN_MIN = 8192
RSS_LIMIT_MB = 2048

STATUS_RE = re.compile(r"^#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)/(\S+)")
STAT_RE = re.compile(r"^stat::(\w+):\s+(\d+)")
ARTIFACT_RE = re.compile(r"Test unit written to (\S+)")
# What went wrong, best first: the sanitizer's summary, else its first line.
REASON_RES = (
    re.compile(r"^SUMMARY: (.*)$"),
    re.compile(r"==\d+== ?ERROR: (.*)$"),
)


def harnesses(names=()):
    """The built harness binaries, optionally only those named."""
    found = sorted(b for b in glob.glob(os.path.join(ROOT, "build/fuzz/fuzz_*"))
                   if os.access(b, os.X_OK) and not b.endswith(".d"))
    if not names:
        return found
    by_name = {os.path.basename(b): b for b in found}
    missing = [n for n in names if n not in by_name]
    if missing:
        sys.exit("run_fuzz: no harness " + ", ".join(missing) +
                 " in build/fuzz/ (make fuzz-build)")
    return [by_name[n] for n in names]


def largest_file(folder):
    sizes = [os.path.getsize(f) for f in glob.glob(os.path.join(folder, "*"))
             if os.path.isfile(f)]
    return max(sizes, default=0)


def count_files(folder):
    return sum(1 for f in os.listdir(folder)
               if os.path.isfile(os.path.join(folder, f)))


def parse_output(text):
    """Figures and crash details from libFuzzer's stderr."""
    res = {"execs": None, "execs_per_s": None, "cov": None, "ft": None,
           "corpus_units": None, "corpus_size": None, "artifact": None,
           "reason": None}
    reasons = [None] * len(REASON_RES)
    for line in text.splitlines():
        for i, r in enumerate(REASON_RES):
            m = r.search(line)
            if m and reasons[i] is None:
                reasons[i] = m.group(1).strip()
        m = STATUS_RE.match(line)
        if m:
            res["execs"] = int(m.group(1))
            res["cov"] = int(m.group(2))
            res["ft"] = int(m.group(3))
            res["corpus_units"] = int(m.group(4))
            res["corpus_size"] = m.group(5)
            continue
        m = STAT_RE.match(line)
        if m and m.group(1) == "number_of_executed_units":
            res["execs"] = int(m.group(2))
        elif m and m.group(1) == "average_exec_per_sec":
            res["execs_per_s"] = int(m.group(2))
        m = ARTIFACT_RE.search(line)
        if m:
            path = os.path.abspath(m.group(1))
            res["artifact"] = (os.path.relpath(path, ROOT)
                               if path.startswith(ROOT + os.sep) else path)
    res["reason"] = next((r for r in reasons if r is not None), None)
    return res


def run_harness(binary, seconds, corpus, seeds, artifacts, log=None):
    """Fuzz binary for seconds on corpus (written) plus seeds (read only).

    Returns a dict with the figures of parse_output() and: name, ok, rc,
    seconds (wall clock), files (in corpus afterwards), stderr."""
    name = os.path.basename(binary)
    os.makedirs(corpus, exist_ok=True)
    os.makedirs(artifacts, exist_ok=True)
    dirs = [corpus] + ([seeds] if os.path.isdir(seeds) else [])
    max_len = max([MAX_LEN_MIN] + [largest_file(d) for d in dirs])
    cmd = [binary, f"-max_total_time={seconds}", "-print_final_stats=1",
           f"-timeout={FUZZ_TIMEOUT}", f"-rss_limit_mb={RSS_LIMIT_MB}",
           f"-max_len={max_len}", f"-artifact_prefix={artifacts}/"] + dirs
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, errors="replace",
                          timeout=seconds + 10 * FUZZ_TIMEOUT + 300)
    res = parse_output(proc.stderr)
    res.update(name=name, rc=proc.returncode, ok=proc.returncode == 0,
               seconds=time.monotonic() - start, files=count_files(corpus),
               stderr=proc.stderr)
    if not res["execs_per_s"] and res["execs"]:
        # libFuzzer reports 0 after a crash: use the wall clock.
        res["execs_per_s"] = int(res["execs"] / max(res["seconds"], 1))
    if log is not None:
        with open(log, "w") as f:
            f.write(" ".join(cmd) + "\n" + proc.stderr)
    return res


def fmt(v):
    return "-" if v is None else str(v)


def describe(res):
    """One line for a harness's run."""
    figures = (f"execs {fmt(res['execs'])}, execs/s {fmt(res['execs_per_s'])}, "
               f"cov {fmt(res['cov'])}, ft {fmt(res['ft'])}, "
               f"corpus {fmt(res['corpus_units'])} inputs "
               f"({fmt(res['corpus_size'])}) / {res['files']} files")
    if res["ok"]:
        return f"{res['name']}: ok: {figures}"
    what = res["reason"] or f"exit status {res['rc']}"
    return (f"{res['name']}: CRASH: {what}; artifact "
            f"{fmt(res['artifact'])}; {figures}")


def table(results, seconds):
    """The figures as a Markdown table."""
    rows = [f"| harness | seconds | execs | execs/s | cov | ft | corpus | "
            f"files | result |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        result = "ok" if r["ok"] else "CRASH " + fmt(r["artifact"])
        rows.append(f"| {r['name']} | {seconds} | {fmt(r['execs'])} | "
                    f"{fmt(r['execs_per_s'])} | {fmt(r['cov'])} | "
                    f"{fmt(r['ft'])} | {fmt(r['corpus_units'])} | "
                    f"{r['files']} | {result} |")
    return "\n".join(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=int, default=60,
                    help="fuzzing time per harness (default 60)")
    ap.add_argument("names", nargs="*", help="harnesses to run (default: all)")
    args = ap.parse_args()
    results = []
    for binary in harnesses(args.names):
        name = os.path.basename(binary)
        print(f"{name}: fuzzing for {args.seconds} s ...", flush=True)
        res = run_harness(
            binary, args.seconds,
            corpus=os.path.join(ROOT, "build/fuzz-corpus", name),
            seeds=os.path.join(SEEDS, name),
            artifacts=os.path.join(ROOT, "build/fuzz-artifacts", name),
            log=os.path.join(ROOT, "build/fuzz-artifacts", name, "last-run.log"))
        print(describe(res), flush=True)
        if not res["ok"]:
            sys.stderr.write(res["stderr"][-3000:])
        results.append(res)
    print()
    print(table(results, args.seconds))
    crashed = [r["name"] for r in results if not r["ok"]]
    print(f"{len(results)} harnesses, {len(crashed)} crashed" +
          (": " + ", ".join(crashed) if crashed else ""))
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
