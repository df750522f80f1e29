#!/usr/bin/env bash
# Install what the tests need (scripts/setup.sh), then run the whole suite.
# Fails when any test fails, and when no test ran at all (pytest's exit code 5).
set -euo pipefail
cd "$(dirname "$0")/.."
SETUP_FOR_TESTS=1 bash scripts/setup.sh  # with the Debian packages only the tests use (prometheus, grim)
export QT_QPA_PLATFORM=offscreen
set +e
# three workers on a 2-core machine (many tests wait on a child process, a daemon or the network), each file
# kept on one worker (its module fixtures: pcscd, gpsd, a sandbox); every worker has its own pcscd socket and
# virtual reader ports (tests/conftest.py). Then the tests marked "alone", with the machine to themselves.
.venv/bin/python -m pytest -p no:cacheprovider -n "${KIOSK_TEST_WORKERS:-3}" --dist loadfile -m "not alone" "$@"
parallel=$?
.venv/bin/python -m pytest -p no:cacheprovider -m alone "$@"
alone=$?
set -e
if [ "$parallel" -eq 5 ] && [ "$alone" -eq 5 ]; then
  echo "test.sh: pytest collected no tests: that is a failure, not a pass" >&2
  exit 1
fi
for status in "$parallel" "$alone"; do  # 5: that phase had nothing selected (a file given that has no test of it)
  if [ "$status" -ne 0 ] && [ "$status" -ne 5 ]; then
    exit "$status"
  fi
done
exit 0
