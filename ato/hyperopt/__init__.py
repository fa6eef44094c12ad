"""Hyperparameter search: grids from search spaces (``space``), a pure successive-halving
schedule with no I/O (``schedule``), and ``HyperBand``/``DistributedHyperBand`` (``search``), which
run it through a ``Scope`` and record every trial and decision with the tracker.

May import: config, events, tracking. Only the CLI sits above it.
"""
