"""The whole test suite, run several times in a row while other processes keep the CPU busy: a test that
waits on a sleep instead of on its event fails here sooner or later.

    .venv/bin/python bench/suite_under_load.py --runs 5 --hogs 2

Each run is the README's test command, `bash scripts/test.sh` (its parallel workers included).

Each hog is a process spinning at normal priority (``--hogs 2`` on a 2-core machine: every core busy).
Stops at the first failing run. Prints one line per run, then a JSON line: runs, passed, each run's
seconds and pytest's summary line.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _spin() -> None:
    while True:
        pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--hogs", type=int, default=os.cpu_count() or 1, help="busy processes (default: one per core)")
    parser.add_argument("pytest_args", nargs="*", help="passed to pytest (default: the whole suite)")
    args = parser.parse_args()
    hogs = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(args.hogs)]
    for hog in hogs:
        hog.start()
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    runs: list[dict[str, object]] = []
    try:
        for number in range(1, args.runs + 1):
            started = time.monotonic()
            done = subprocess.run(["bash", "scripts/test.sh", "-q", *args.pytest_args],
                                  cwd=ROOT, env=env, capture_output=True, text=True, check=False)
            lines = [line for line in done.stdout.splitlines() if line.strip()]
            # pytest's summary lines, one per phase of scripts/test.sh (the parallel one, then the "alone" one)
            summary = " + ".join(line.strip("= ") for line in lines
                                 if re.search(r"\d+ (passed|failed)", line) and " in " in line)
            run = {"run": number, "exit": done.returncode, "seconds": round(time.monotonic() - started),
                   "summary": summary}
            runs.append(run)
            print(f"run {number}: exit {done.returncode}, {run['seconds']} s, {run['summary']}", flush=True)
            if done.returncode != 0:
                print(done.stdout[-6000:], flush=True)
                break
    finally:
        for hog in hogs:
            hog.terminate()
    print(json.dumps({"runs": len(runs), "passed": sum(r["exit"] == 0 for r in runs), "hogs": args.hogs,
                      "machine": f"{platform.machine()} {os.cpu_count()} cores", "each": runs}))
    return 0 if runs and all(r["exit"] == 0 for r in runs) and len(runs) == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
