"""ato 2.1.7's search classes, for code that builds on them (``from ato.hyperopt.base import
HyperOpt``): the base of a search over a scope's config, the ``torch.distributed`` helpers and the
grid of a search space. :class:`~ato.hyperopt.search.HyperBand` is built from them, as in 2.1.7.

Differences from 2.1.7, each on purpose:

- :class:`HyperOpt` reads its base config from the scope when it is first asked for
  (``self.config``), not when it is created: reading a scope's config merges it from the command
  line, and a search is usually set up before the script's last view is defined.
- :class:`DistributedMixIn` checks ``backend`` and ``rank`` when it is created and says what is
  wrong; without torch it raises ``ImportError`` saying how to install it (2.1.7: ``RuntimeError``).
- :class:`GridSpaceMixIn` computes the grid as 2.1.7 did (``space_numerics = "2.1.7"``, see
  :mod:`ato.hyperopt.space`); ``HyperBand`` sets ``space_numerics = "ato"``.
- Bad settings raise :class:`~ato.hyperopt.schedule.SearchSettingsError`, a ``ValueError`` as in
  2.1.7 and an Ato ``ConfigError``.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from ato.config.adict import ADict
from ato.config.scope import Scope
from ato.hyperopt.schedule import SearchSettingsError
from ato.hyperopt.space import grid

__all__ = ["DistributedHyperOpt", "DistributedMixIn", "GridSpaceMixIn", "HyperOpt"]


class HyperOpt:
    """A search over ``scope``'s config: ``search_spaces`` say which keys vary, ``mode`` whether
    a higher (``'max'``) or lower (``'min'``) metric is better. Subclasses implement :meth:`main`.
    ``tracker`` is kept as given (``self.tracker``); what it means is the subclass's to say."""

    def __init__(self, scope: Scope, search_spaces: Mapping[str, Any], tracker: Any = None, mode: str = "max") -> None:
        if mode not in ("min", "max"):
            raise SearchSettingsError(f"mode must be 'max' or 'min', not {mode!r}")
        self.scope = scope
        self.search_spaces = search_spaces
        self.tracker = tracker
        self.mode = mode
        self._config: ADict | None = None

    @property
    def config(self) -> ADict:
        """The base config of every trial: the scope's merged config, read on each use until one is
        assigned (ato 2.1.7 cloned it when the search was created). Assign to search from another one."""
        return self.scope.config if self._config is None else self._config

    @config.setter
    def config(self, value: ADict) -> None:
        self._config = value

    @classmethod
    def get_hyperopt_id(cls) -> str:
        """A new id for a search (``config.__hyperopt_id__`` of its trials)."""
        return str(uuid.uuid4())

    def main(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """``@search.main``: turn an objective into the search. Subclasses implement it."""
        raise NotImplementedError(f"{type(self).__name__} does not implement main()")


class DistributedMixIn:
    """``torch.distributed`` helpers for a search run by ``world_size`` processes. The process
    group must be initialised before anything is broadcast or gathered."""

    def __init__(self, rank: int = 0, world_size: int = 1, backend: str = "pytorch") -> None:
        if backend != "pytorch":
            raise SearchSettingsError(f"backend {backend!r} is not supported; use 'pytorch' (torch.distributed)")
        try:
            import torch.distributed as dist
        except ImportError:
            raise ImportError(
                f"{type(self).__name__} needs torch: pip install torch (or pip install 'ato[torch]')"
            ) from None
        if not 0 <= rank < world_size:
            raise SearchSettingsError(f"rank {rank} is outside world_size {world_size}")
        self.rank = rank
        self.world_size = world_size
        self.backend = backend
        self._dist = dist

    @property
    def is_root(self) -> bool:
        """Whether this is rank 0."""
        return self.rank == 0

    def broadcast_object_from_root(self, obj: Any) -> Any:
        """Rank 0's ``obj``, on every rank."""
        box = [obj]
        self._dist.broadcast_object_list(box, src=0)
        return box[0]

    def all_gather_object(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order, on every rank."""
        gathered: list[Any] = [None] * self.world_size
        self._dist.all_gather_object(gathered, obj)
        return gathered

    def destroy(self) -> None:
        """Destroy the default process group, if there is one."""
        if self._dist.is_initialized():
            self._dist.destroy_process_group()

    def get_hyperopt_id(self) -> str:
        """Rank 0's new search id, on every rank."""
        return str(self.broadcast_object_from_root(str(uuid.uuid4()) if self.is_root else None))


class DistributedHyperOpt(DistributedMixIn, HyperOpt):
    """:class:`HyperOpt` with :class:`DistributedMixIn`, in ato 2.1.7's argument order."""

    def __init__(
        self,
        scope: Scope,
        search_spaces: Mapping[str, Any],
        tracker: Any = None,
        mode: str = "max",
        rank: int = 0,
        world_size: int = 1,
        backend: str = "pytorch",
    ) -> None:
        HyperOpt.__init__(self, scope, search_spaces, tracker, mode)
        DistributedMixIn.__init__(self, rank, world_size, backend)


class GridSpaceMixIn:
    """The grid of a search space as configs. ``space_numerics`` picks the arithmetic (see
    :mod:`ato.hyperopt.space`): ``"2.1.7"`` here, so :meth:`prepare_distributions` returns what
    ato 2.1.7 returned for every space it accepted."""

    space_numerics = "2.1.7"

    @classmethod
    def prepare_distributions(cls, base_config: Mapping[str, Any], search_spaces: Mapping[str, Any]) -> list[ADict]:
        """One copy of ``base_config`` per grid point, updated with that point's values, in
        grid order (the last parameter varies fastest)."""
        base = base_config.clone() if isinstance(base_config, ADict) else ADict(copy.deepcopy(dict(base_config)))
        distributions = []
        for point in grid(search_spaces, cls.space_numerics):
            config = base.clone()
            config.update(point)
            distributions.append(config)
        return distributions
