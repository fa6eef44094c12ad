"""The seed's import path for the search classes: ``from ato.hyperopt.base import HyperOpt``.
They live in :mod:`ato.hyperopt.framework` (what differs from ato 2.1.7 is said there)."""

from ato.hyperopt.framework import (
    DistributedHyperOpt,
    DistributedMixIn,
    GridSpaceMixIn,
    HyperOpt,
)

__all__ = ["DistributedHyperOpt", "DistributedMixIn", "GridSpaceMixIn", "HyperOpt"]
