"""Storage: where events are kept. Database URLs and Ato's database errors, the append-only log
in SQLite, the store transaction that appends events and brings projections up to date in one
commit, and the tracker's event loop.

May import: :mod:`ato.events`, :mod:`ato.errors`. Never config, projections, tracking or the CLI:
the store drives projections through the small :class:`ato.storage.store.Projection` interface.
"""
