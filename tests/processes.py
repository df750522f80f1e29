"""The process tree as /proc shows it, for tests that find a process another one started (cage's kiosk,
the systemd that unshare started)."""

from __future__ import annotations

from pathlib import Path


def descendants(root: int) -> list[int]:
    """Every process below ``root``, nearest first."""
    found, frontier = [], [root]
    while frontier:
        pid = frontier.pop(0)
        try:
            children = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except OSError:
            continue
        found += children
        frontier += children
    return found


def command(pid: int) -> str:
    """The process's command line, arguments separated by spaces ('' once it has ended)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
