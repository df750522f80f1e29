"""Where the tests save the screens they render and look at. Not the tracked docs/screenshots/ (a test run
leaves the checkout as it found it): a folder in the temporary directory, or the one KIOSK_SCREENSHOTS
names. To refresh the documentation's screenshots:

    KIOSK_SCREENSHOTS=docs/screenshots bash scripts/test.sh tests/test_screens_fit.py tests/test_errand_screens.py \
        tests/test_face_swipe_screens.py tests/test_clinician_ui.py tests/test_kiosk_session.py
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / os.environ["KIOSK_SCREENSHOTS"] if os.environ.get("KIOSK_SCREENSHOTS") else \
    Path(tempfile.gettempdir()) / "kiosk-test-screenshots"
SHOTS.mkdir(parents=True, exist_ok=True)
