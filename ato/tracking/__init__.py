"""Tracking: the public tracker. ``SQLLogger``/``AsyncSQLLogger`` log runs, ``SQLFinder``/
``AsyncSQLFinder`` find them (each pair two facades over one core), and the answers the ``ato``
command prints: a run's merge replay and the diff of two runs.

May import everything below it: config, events, storage, projections, fingerprints. Never the
CLI or the search (HyperBand builds on the logger, not the other way round).
"""
