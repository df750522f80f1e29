"""Payment adapters for the patient's own share: the hospital's payment platform over HTTPS (signed), its
sandbox twin, and the bank-card terminal."""
