"""Hydra and OmegaConf configs as Ato runs, with Hydra's own provenance.

A Hydra app keeps its ``@hydra.main`` function and adds :func:`tracked` beneath it (or wraps the
body in :func:`track`); a run started inside records the composed config and how it was
composed, so ``ato replay`` says which key came from which defaults-list choice and which from a
command-line override, and ``ato diff`` names the override that differs::

    @hydra.main(config_path="conf", config_name="config", version_base=None)
    @tracked
    def main(cfg: DictConfig) -> None:
        with SQLLogger(cfg) as logger:       # a DictConfig is a run's config as it is
            logger.run()

What is recorded: an ordinary merge trace (the events a ``@scope`` records), scope ``hydra``:

- one step per entry of Hydra's defaults list, in Hydra's merging order, named ``group=choice``
  (``model=vit``) for a config-group option and by its config path otherwise (the primary config
  is ``config``); kind ``named`` where the command line chose the option (``model=vit``),
  ``default`` where the defaults list did; an entry pulled in by another config's defaults list
  is ``chained by`` that config. Hydra's own entries (``hydra/...``) are left out, as is the
  ``hydra`` node, which the app's config does not hold either;
- one step per command-line override of a value (``lr=0.1``, ``+extra=3``, ``~key``), kind
  ``cli``, named as typed; an override that left the value as it was is a step with no change;
- where the script changed the config before tracking it, one ``after_merge`` step;
- interpolations: every step above records values **as written** (``${lr}``); the last steps,
  one per expression (``resolve ${lr}``; kind ``lazy``: OmegaConf resolves on access, after
  everything else), set each interpolated key to its **resolved** value. The run's config is
  the resolved one (what ``ADict(cfg)`` and ``SQLLogger(cfg)`` read), so replay is exact, a
  key's chain shows both ``${lr}`` and ``0.1``, and ``ato diff`` says that ``optimizer.lr``
  differs because it follows ``${lr}``. A value that is not text but holds interpolations (a
  list) is resolved by a step named ``resolve``.

The steps come from recomposing the config entry by entry with Hydra's own loader (its public
``compute_defaults_list`` and repository), from Hydra's records of the run (``HydraConfig``: the
config name, ``overrides.hydra`` and ``overrides.task``, the defaults list and its choices).
Whatever the recomposition misses (Hydra's deprecated automatic schema matching, say) is the
``after_merge`` step, so the trace stays exact; where a Hydra version's loader differs so much
that the recomposition fails, the composition is recorded as one step named after the choices
and overrides, with a warning, never guessed. The trace's ``argv`` is the task overrides
(``overrides.task``).

A plain OmegaConf ``DictConfig`` (no Hydra running) works too: scope ``omegaconf``, one step
``omegaconf`` with the config as written, then the resolve steps.

omegaconf and hydra-core are the optional extra ``ato[hydra]``, imported only when a config is
tracked.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from ato.config.adict import ADict
from ato.config.merge_trace import (
    MergeTrace,
    RunningMerge,
    TraceRecorder,
    flatten,
    running,
)
from ato.events.types import KeyChange, StepKind
from ato.events.values import decode_value

if TYPE_CHECKING:
    from omegaconf import DictConfig

__all__ = ["AFTER_STEP", "RESOLVE_STEP", "trace_config", "track", "tracked"]

RESOLVE_STEP = "resolve"
"""What the steps that set interpolated keys to their resolved values are named after:
``resolve ${lr}``, one step per expression as written."""
AFTER_STEP = "(changed after Hydra composed it)"
"""The name of the step that records what the config held beyond Hydra's composition."""

_MISSING = "ato.integrations.hydra needs omegaconf (and hydra-core for a Hydra app's provenance): pip install 'ato[hydra]'"
_R = TypeVar("_R")


@dataclass(frozen=True)
class _Step:
    name: str
    kind: StepKind
    chained_by: str | None
    state: ADict  # the whole config after the step, as written


def trace_config(cfg: DictConfig, scope: str | None = None) -> tuple[MergeTrace, ADict]:
    """The merge trace of ``cfg`` and the resolved config it ends with (the run's config).

    Inside a Hydra app (``HydraConfig`` set), the steps are Hydra's composition; otherwise one
    ``omegaconf`` step. ``scope`` names the trace (``hydra`` or ``omegaconf`` by default).
    """
    omegaconf = _omegaconf()
    if not isinstance(cfg, omegaconf.DictConfig):
        raise TypeError(
            f"trace_config() takes an OmegaConf DictConfig (what @hydra.main passes), not {type(cfg).__name__}"
        )
    written = _written(cfg)
    hydra_config = _hydra_config()
    if hydra_config is None:
        steps, argv, source = [_Step("omegaconf", StepKind.DEFAULT, None, written)], (), "omegaconf"
    else:
        argv, source = tuple(hydra_config.overrides.task), "hydra"
        try:
            steps = _hydra_steps(hydra_config)
        except Exception as error:  # noqa: BLE001 - Hydra internals differ between versions
            steps = [_Step(_summary(hydra_config), StepKind.DEFAULT, None, written)]
            warnings.warn(
                f"Ato could not recompose Hydra's config entry by entry ({type(error).__name__}: {error}); "
                "the composition is recorded as one step",
                RuntimeWarning,
                stacklevel=3,
            )
    recorder = TraceRecorder(scope or source, ADict(), argv)
    for step in steps:
        recorder.record(step.state, step.name, step.kind, chained_by=step.chained_by)
    changes = recorder.capture(written)
    if changes:
        recorder.record(written, AFTER_STEP, StepKind.AFTER_MERGE, changes=changes)
    resolved = ADict(cfg)  # as the logger reads a DictConfig: OmegaConf.to_container(resolve=True)
    for expression, group in _by_expression(written, recorder.capture(resolved)).items():
        name = f"{RESOLVE_STEP} {expression}" if expression is not None else RESOLVE_STEP
        recorder.record(resolved, name, StepKind.LAZY, changes=group)
    return recorder.complete(resolved), resolved


def _by_expression(written: ADict, changes: list[KeyChange]) -> dict[str | None, list[KeyChange]]:
    """The resolution's changes grouped by the text they were written as (``${lr}``), in order,
    so that a key's last step names what it follows; None: not a string (a list holding one)."""
    leaves = flatten(written)
    groups: dict[str | None, list[KeyChange]] = {}
    for change in changes:
        path = tuple(decode_value(key) for key in change.path)
        # A written string may resolve to a mapping: its new keys belong to the string above them.
        found = (leaves.get(path[:end]) for end in range(len(path), 0, -1))
        expression = next((value for value in found if isinstance(value, str)), None)
        groups.setdefault(expression, []).append(change)
    return groups


@contextlib.contextmanager
def track(cfg: DictConfig, scope: str | None = None) -> Iterator[ADict]:
    """Within the block, a run started (``SQLLogger(config).run()``) records ``cfg``'s merge
    trace; yields the resolved config as an ADict. Keys changed on the yielded config before
    the run starts are recorded as one more step (as after a ``@scope`` merge)."""
    trace, config = trace_config(cfg, scope)
    with running(RunningMerge(trace, config)):
        yield config


def tracked(function: Callable[[DictConfig], _R]) -> Callable[[DictConfig], _R]:
    """Decorate a ``@hydra.main`` function (beneath ``@hydra.main``): each call runs inside
    :func:`track`, and the function still gets Hydra's ``DictConfig``. Keys it changes on that
    config before a run starts are recorded as one more step."""

    @functools.wraps(function)  # Hydra unwraps __wrapped__ to find the app's file and config_path
    def wrapper(cfg: DictConfig) -> _R:
        trace, _ = trace_config(cfg)
        with running(_LiveMerge(trace, cfg)):
            return function(cfg)

    return wrapper


class _LiveMerge(RunningMerge):
    """A running merge whose live config is the DictConfig itself, read when a run starts."""

    def __init__(self, trace: MergeTrace, source: DictConfig) -> None:
        self._source = source
        super().__init__(trace=trace)

    @property  # type: ignore[override]
    def config(self) -> ADict:
        return ADict(self._source)

    @config.setter
    def config(self, value: Any) -> None:
        pass  # the dataclass's __init__ sets it; the DictConfig is the one source


# -- reading OmegaConf and Hydra -------------------------------------------------------------------
def _omegaconf() -> Any:
    try:
        import omegaconf
    except ImportError as error:
        raise ImportError(_MISSING) from error
    return omegaconf


def _written(cfg: Any) -> ADict:
    """The config as written: interpolations left as their ``${...}`` text."""
    from omegaconf import OmegaConf

    return ADict(OmegaConf.to_container(cfg, resolve=False))


def _hydra_config() -> Any:
    """Hydra's record of the running app (``HydraConfig.get()``), or None outside one."""
    try:
        from hydra.core.hydra_config import HydraConfig
    except ImportError:
        return None  # plain OmegaConf: nothing Hydra could have composed
    return HydraConfig.get() if HydraConfig.initialized() else None


def _hydra_steps(hydra_config: Any) -> list[_Step]:
    """Recompose the app's config as Hydra did (``ConfigLoaderImpl._load_configuration_impl``),
    through Hydra's public loader, keeping the state after each defaults-list entry and each
    value override."""
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    loader: Any = GlobalHydra.instance().config_loader()
    config_name = hydra_config.job.config_name
    overrides = [*hydra_config.overrides.hydra, *hydra_config.overrides.task]  # hydra.searchpath included
    # Also points the loader's repository at the search path the overrides and config set.
    defaults = loader.compute_defaults_list(config_name, overrides, hydra_config.mode)
    chosen = defaults.overrides.override_choices  # the groups the command line chose
    choices = defaults.overrides.known_choices
    cfg = OmegaConf.create()
    steps: list[_Step] = []
    for entry in defaults.defaults:
        if (entry.package or "").partition(".")[0] == "hydra":
            continue  # Hydra's own settings: the app's config has no hydra node
        cfg.merge_with(_load(loader, entry))
        group = entry.override_key
        if group is None and not entry.primary:
            # A config with a defaults list of its own is merged as its `_self_`, which carries
            # no group: its path names it (model/vit is the choice vit of the group model).
            folder, _, option = str(entry.config_path).rpartition("/")
            group = folder if folder and choices.get(folder) == option else None
        if group is not None:
            name, kind = f"{group}={choices.get(group)}", StepKind.NAMED if group in chosen else StepKind.DEFAULT
        else:
            name, kind = str(entry.config_path), StepKind.DEFAULT
        parent = entry.parent if entry.parent not in (None, "<root>", config_name) else None
        steps.append(_Step(name, kind, parent, _composed(cfg)))
    OmegaConf.set_struct(cfg, True)  # as Hydra applies overrides
    for override in defaults.config_overrides:
        if not override.is_hydra_override():
            _apply(cfg, override)
            steps.append(_Step(str(override.input_line), StepKind.CLI, None, _composed(cfg)))
    return steps


def _load(loader: Any, entry: Any) -> Any:
    """One defaults-list entry's config, placed at its package (``model/vit`` under ``model``)."""
    from omegaconf import OmegaConf

    loaded = loader.repository.load_config(entry.config_path).config
    if not entry.package:
        return loaded
    placed = OmegaConf.create()
    OmegaConf.update(placed, entry.package, loaded, merge=False)
    return placed


def _apply(cfg: Any, override: Any) -> None:
    """Apply one value override as Hydra does (it already succeeded in Hydra's own composition)."""
    from omegaconf import OmegaConf, open_dict

    key = override.key_or_group
    if override.is_delete():  # ~key
        parent, _, leaf = key.rpartition(".")
        with open_dict(cfg):
            del (OmegaConf.select(cfg, parent) if parent else cfg)[leaf]
    else:  # key=value, +key=value, ++key=value
        force_add = override.is_add() or override.is_force_add()
        OmegaConf.update(cfg, key, override.value(), merge=True, force_add=force_add)


def _composed(cfg: Any) -> ADict:
    state = _written(cfg)
    state.pop("hydra", None)  # a primary config's own hydra: settings; Hydra removes them too
    return state


def _summary(hydra_config: Any) -> str:
    choices = ", ".join(
        f"{group}={choice}" for group, choice in hydra_config.runtime.choices.items() if not group.startswith("hydra/")
    )
    overrides = " ".join(hydra_config.overrides.task)
    return f"{hydra_config.job.config_name} ({choices})" + (f" {overrides}" if overrides else "")
