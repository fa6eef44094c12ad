"""Hyperparameter search: grids from search spaces, successive halving, every decision an event."""
