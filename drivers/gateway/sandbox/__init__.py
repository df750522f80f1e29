"""The sandbox gateway: a real HTTP server on loopback with a SQLite ledger.

It plays the medical-insurance platform (9001, 1101, 2201-2208, 2601, 5203) and,
on separate paths, the hospital information system (outstanding fees, enrolled
face references). Its ledger is the ground truth of tests and of the demo.
"""

from drivers.gateway.sandbox.server import SandboxGateway

__all__ = ["SandboxGateway"]
