"""Event types: msgspec Structs with stable tags, one closed union, one encoder/decoder pair.

No I/O happens here; the append-only log that stores these events lives beside them.
"""
