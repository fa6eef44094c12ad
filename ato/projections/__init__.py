"""Projections: the query tables derived from the log, the projector that ``apply``s events to
them (caught up incrementally or rebuilt), and :mod:`ato.projections.queries`, the one read model
where all projection SQL lives.

May import: :mod:`ato.storage`, :mod:`ato.events`, :mod:`ato.errors`. Never config, tracking or
the CLI: a run's config comes back as plain decoded data; the finder makes it an ADict.
"""
