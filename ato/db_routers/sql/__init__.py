"""Kept for the seed's import paths."""
