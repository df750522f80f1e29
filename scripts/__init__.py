"""Entry points: the kiosk command, the composition root, the demo and the technicians' provisioning command."""
