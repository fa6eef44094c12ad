"""Hyperparameter search: grids from search spaces (``space``), a pure successive-halving
schedule with no I/O (``schedule``), ato 2.1.7's search classes (``framework``), and
``HyperBand``/``DistributedHyperBand`` (``search``), which run it through a ``Scope`` and record
every trial and decision with the tracker. ``hyperband`` and ``base`` are the seed's import paths.

May import: config, events, tracking. Only the CLI sits above it.
"""
