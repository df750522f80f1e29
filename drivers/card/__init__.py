"""Third-generation social-security card: pure APDU/TLV protocol, transports and a virtual card."""
