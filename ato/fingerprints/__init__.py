"""Fingerprints: of code (canonical logic), of runtime outputs (what functions return), and of
the environment a run ran in. Each is recorded with a run as a ``fingerprint.recorded`` event."""
