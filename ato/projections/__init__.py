"""Projections: query tables derived from the event log, caught up incrementally or rebuilt."""
