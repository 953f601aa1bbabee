#!/usr/bin/env python3
"""Run every sealpost test and end with one line: "N passed, M failed".

0. preflight: every external client the tests call can speak TLS
   (tests/preflight.py); a shortfall names its package and stops the run
1. unit tests: each build/unit/**/test_* binary (cmocka, ASan+UBSan), TAP output
2. protocol tests: pytest on tests/proto against build/san/sealpost
3. fuzz: each build/fuzz/fuzz_* for a few seconds on its seed corpus
"""
import concurrent.futures
import glob
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import preflight  # noqa: E402
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzz"))
import run_fuzz as run_fuzz_mod  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FUZZ_SECONDS = int(os.environ.get("SEALPOST_FUZZ_SECONDS", "5"))

passed = 0
failed = 0
failures = []


def record(ok, name):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        failures.append(name)


def run_unit():
    env = dict(os.environ, CMOCKA_MESSAGE_OUTPUT="TAP")
    for binary in sorted(glob.glob(os.path.join(ROOT, "build/unit/**/test_*"),
                               recursive=True)):
        if not os.access(binary, os.X_OK) or binary.endswith(".d"):
            continue
        name = os.path.relpath(binary, ROOT)
        proc = subprocess.run([binary], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=300)
        sys.stdout.write(proc.stdout)
        sys.stderr.write(proc.stderr)
        results = re.findall(r"^(ok|not ok) \d+ - (.*)$", proc.stdout, re.M)
        for status, test in results:
            record(status == "ok", f"{name}: {test}")
        if proc.returncode != 0 and not any(s == "not ok" for s, _ in results):
            record(False, f"{name}: exit status {proc.returncode}")
        if not results and proc.returncode == 0:
            record(False, f"{name}: ran no tests")


def run_pytest():
    xml = os.path.join(ROOT, "build/pytest.xml")
    env = dict(os.environ,
               SEALPOST_BIN=os.path.join(ROOT, "build/san/sealpost"),
               PYTHONDONTWRITEBYTECODE="1")
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
           f"--junitxml={xml}", os.path.join(ROOT, "tests/proto")]
    proc = subprocess.run(cmd, cwd=ROOT, env=env)
    if not os.path.exists(xml):
        record(False, f"pytest: exit status {proc.returncode}, no report")
        return
    for case in ET.parse(xml).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        bad = case.find("failure") is not None or case.find("error") is not None
        skipped = case.find("skipped") is not None
        record(not bad and not skipped, name + (" (skipped)" if skipped else ""))
    os.unlink(xml)


def fuzz_one(binary):
    name = os.path.basename(binary)
    work = os.path.join(ROOT, "build/fuzz-work", name)
    return run_fuzz_mod.run_harness(
        binary, FUZZ_SECONDS, corpus=work,
        seeds=os.path.join(ROOT, "tests/fuzz/corpus", name), artifacts=work)


def run_fuzz():
    """Each harness briefly, as make fuzz runs it (tests/fuzz/run_fuzz.py),
    on its own scratch corpus build/fuzz-work/NAME plus the seeds; one
    harness per core at a time (each is one process, one thread)."""
    harnesses = run_fuzz_mod.harnesses()
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for binary, res in zip(harnesses, pool.map(fuzz_one, harnesses)):
            print("fuzz " + run_fuzz_mod.describe(res))
            if not res["ok"]:
                sys.stderr.write(res["stderr"][-4000:])
            record(res["ok"], f"fuzz: {os.path.basename(binary)}")


def main():
    missing = preflight.problems()
    if missing:
        for line in missing:
            print(line)
            record(False, line.split(": ", 1)[1])
        print(f"{passed} passed, {failed} failed")
        return 1
    run_unit()
    run_pytest()
    run_fuzz()
    if failures:
        print("failed:")
        for f in failures:
            print("  " + f)
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
