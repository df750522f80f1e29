"""Domain core of the hospital self-service kiosk.

Pure Python: no Qt, no hardware, no HTTP, no SQLite. Everything that touches the
outside world lives behind the ports in :mod:`kiosk.ports` and is implemented in
``drivers/``, ``offline_queue/`` and ``ui/``.
"""

__version__ = "0.1.0"
