"""The Qt binding keeps Python's reference counts: PySide6 6.12.0 released a reference to None on every
call of a void method (and the kiosk calls setText and setVisible on every screen it renders), so on
Python 3.11, where None and the booleans are not immortal, the process aborted once those calls outnumbered
None's references ("none_dealloc: deallocating None"; at exit, "bool_dealloc"). Found in this suite's
teardown, which had been hidden by ending the process with os._exit."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import os, sys
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PySide6.QtWidgets import QApplication, QLabel, QPushButton
app = QApplication([])
label, button = QLabel("x"), QPushButton("y")
calls = {"setText": lambda: label.setText("a"), "setVisible": lambda: label.setVisible(True),
         "hide": lambda: button.hide(), "setEnabled": lambda: button.setEnabled(False),
         "isVisible": lambda: label.isVisible(), "isChecked": lambda: button.isChecked()}
for name, call in calls.items():
    before = sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False)
    for _ in range(2000):
        call()
    after = sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False)
    print(name, *(a - b for a, b in zip(after, before)), flush=True)
"""


def test_void_and_bool_qt_calls_keep_the_reference_counts_of_none_and_the_booleans() -> None:
    """2000 calls of each: a binding that drops a reference per call loses about 2000 (the probe runs in a
    child process, which would abort if a count reached zero); a few may move while Qt caches an object."""
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    lost = {line.split()[0]: [int(n) for n in line.split()[1:]] for line in done.stdout.splitlines()}
    assert set(lost) == {"setText", "setVisible", "hide", "setEnabled", "isVisible", "isChecked"}, done.stdout
    assert all(delta > -50 for deltas in lost.values() for delta in deltas), lost


def test_the_interpreter_ends_cleanly_after_heavy_qt_use() -> None:
    """The test process no longer ends with os._exit (tests/conftest.py): a child that renders a window
    many times exits normally, with status 0, through the interpreter's own final clean-up."""
    heavy = PROBE + "\nfor _ in range(20000):\n    label.setText('b'); label.setVisible(not label.isVisible())\n"
    done = subprocess.run([sys.executable, "-c", heavy], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
