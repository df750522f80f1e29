"""Adapters to the outside world, each behind a port of :mod:`kiosk.ports`, each with a simulated twin."""
