"""The seed's import path for the search: ``from ato.hyperopt.hyperband import HyperBand``.
It lives in :mod:`ato.hyperopt.search`."""

from ato.hyperopt.search import DistributedHyperBand, HyperBand, SearchResult

__all__ = ["DistributedHyperBand", "HyperBand", "SearchResult"]
