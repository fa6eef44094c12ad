"""Events: what the log stores. Event types (frozen msgspec Structs with stable tags, one closed
union), the codec (one encoder/decoder pair), and the lossless encoding of config values.

Pure: no I/O at all. May import :mod:`ato.errors` and nothing else of Ato; the log that stores
these events is :mod:`ato.storage.log`.
"""
