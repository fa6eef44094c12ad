"""Config: everything that builds a configuration and remembers how it was built.

Owns ADict and its structural hash, command-line literals (data, never code), config files and
the XYZ format, views, ``Scope``/``MultiScope``, and the merge trace (the events a merge records,
and their exact replay).

May import: :mod:`ato.events` (the merge events), :mod:`ato.fingerprints` (``@scope.trace``),
:mod:`ato.errors`. Never storage, projections, tracking or the CLI: a config is built without a
database, and the tracker finds a running scope's trace through
:data:`ato.config.merge_trace.running_merges` instead of reaching into ``Scope``.
"""
