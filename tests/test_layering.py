"""The architecture stays visible: imports point inward, modules stay small."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN_IN_CORE = {"PySide6", "PyQt5", "PyQt6", "smartcard", "cv2", "face_recognition", "dlib", "requests",
                     "sqlite3", "sqlite_utils", "urllib3", "serial", "escpos", "drivers", "ui", "offline_queue",
                     "scripts"}
SIBLINGS = {"drivers", "ui", "offline_queue"}
MAX_LINES = 600


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _sources(package: str) -> list[Path]:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"no sources in {package}"
    return files


def test_core_imports_no_outside_world() -> None:
    offenders = {str(p.relative_to(ROOT)): sorted(_imports(p) & FORBIDDEN_IN_CORE) for p in _sources("kiosk")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_adapters_do_not_import_each_other() -> None:
    bad = {}
    for package in SIBLINGS:
        for path in _sources(package):
            hits = sorted(_imports(path) & (SIBLINGS - {package}))
            if hits:
                bad[str(path.relative_to(ROOT))] = hits
    assert bad == {}


def test_importing_the_core_loads_no_heavy_library() -> None:
    modules = [f"kiosk.{p.stem}" for p in _sources("kiosk") if p.stem != "__init__"]
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in modules)
        + f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {sorted(FORBIDDEN_IN_CORE)!r})\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == ""


def test_layering_check_catches_a_violation(tmp_path: Path) -> None:
    """The checker itself can fail: a core module importing Qt is reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("from PySide6.QtWidgets import QWidget\nimport sqlite3\n", encoding="utf-8")
    assert _imports(bad) & FORBIDDEN_IN_CORE == {"PySide6", "sqlite3"}


def test_modules_stay_small() -> None:
    big = {}
    for package in ("kiosk", "drivers", "ui", "offline_queue", "scripts"):
        for path in _sources(package):
            lines = len(path.read_text(encoding="utf-8").splitlines())
            if lines > MAX_LINES:
                big[str(path.relative_to(ROOT))] = lines
    assert big == {}
