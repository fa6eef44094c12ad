"""Fingerprints: of code (canonical logic), of runtime outputs (what functions return), and of
the environment a run ran in. Each is recorded with a run as a ``fingerprint.recorded`` event.

May import: :mod:`ato.events`, :mod:`ato.errors`. The running logger registers itself through
:func:`ato.fingerprints.tracing.watch_runtime`, so nothing here imports the tracker.
"""
