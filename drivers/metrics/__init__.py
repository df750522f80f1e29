"""Metrics for the operations team: the kiosk's telemetry as Prometheus exposition (prometheus_client), served
over HTTP(S) with an optional bearer token or client certificates; and its simulated twin."""
