#!/usr/bin/env bash
# Install what the kiosk needs (scripts/setup.sh), then start it in demo mode:
# sandbox gateway on loopback, virtual social-security card, replay camera (or the webcam), file printer.
# With no display, one patient visit runs by itself (headless) and its screens are saved as PNGs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  exec .venv/bin/kiosk demo --data-dir ".demo/run-$(date +%Y%m%d-%H%M%S)" "$@"
fi
echo "demo: no display found, so one visit runs by itself; screens are saved in .demo/screenshots" >&2
exec .venv/bin/kiosk demo --autopilot --data-dir ".demo/run-$(date +%Y%m%d-%H%M%S)" --screenshots .demo/screenshots "$@"
