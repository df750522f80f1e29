"""The national interface: envelope, requests client, and the sandbox gateway."""
