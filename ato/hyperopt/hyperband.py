"""The seed's import path for the search: ``from ato.hyperopt.hyperband import HyperBand``.
It lives in :mod:`ato.hyperopt.search`; the base classes 2.1.7's module also held, in
:mod:`ato.hyperopt.framework`."""

from ato.hyperopt.framework import DistributedMixIn, GridSpaceMixIn, HyperOpt
from ato.hyperopt.search import DistributedHyperBand, HyperBand, SearchResult

__all__ = ["DistributedHyperBand", "DistributedMixIn", "GridSpaceMixIn", "HyperBand", "HyperOpt", "SearchResult"]
