"""Scope: priority-based config merging in which every step is recorded.

A :class:`Scope` owns views (functions or mappings that set config keys), merges them in the
order :mod:`ato.config.views` documents, applies the command line (:mod:`ato.config.literals`), and records
each step and the keys it changed (:mod:`ato.config.merge_trace`), so that anyone can later see who set
each key and replay the merge exactly.

The config is merged once per process, the first time a ``@scope`` function runs without being
given one (or explicitly with :meth:`Scope.apply`). Command-line errors (an unknown view, a
malformed literal) then print one line and exit with status 2; ``manual`` prints the applying
order and the user manuals and exits with status 0.

``with Scope.lazy():`` inside a view defers that block until after the command line. The view's
function runs twice: first with its lazy blocks skipped, then again after the command line, when
only the writes made *inside* lazy blocks are kept (so code outside them may run twice; read the
config, not locals computed outside the block, inside it).

A ``key=value`` for a key no view set adds it (the seed's ``dataset=%cifar10%`` for a lazy view);
when the new key is close to an existing one (``lrr`` for ``lr``) a :class:`ConfigWarning` says so.
Values keep the type they were typed with: ``lr=1`` is an int.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import sys
import warnings
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, ClassVar, TypeVar

from ato.config.adict import ADict, as_mapping, is_mapping
from ato.config.external_parser import command_line, listen_to_argparse
from ato.config.literals import (
    MANUAL,
    Assignment,
    ManualRequest,
    ViewRequest,
    parse_argv,
)
from ato.config.merge_trace import (
    KeyHistory,
    MergeTrace,
    RunningMerge,
    TraceRecorder,
    running,
)
from ato.config.views import View, check_chains, order_views, suggest
from ato.errors import CLIArgumentError, ConfigError, ConfigWarning
from ato.events.types import KeyChange, StepKind

__all__ = ["MultiScope", "Scope", "active_scopes", "parse_args_pythonic"]

F = TypeVar("F", bound=Callable[..., Any])
_RULE = "-" * 50

_active: contextvars.ContextVar[tuple[Scope, ...]] = contextvars.ContextVar("ato_active_scopes", default=())


def active_scopes() -> tuple[Scope, ...]:
    """The scopes whose ``@scope`` functions are running now (innermost last)."""
    return _active.get()


# -- lazy blocks ----------------------------------------------------------------------------------
@dataclass
class _Applying:
    recorder: TraceRecorder
    config: ADict
    phase: str  # "eager": skip lazy blocks; "lazy_part": keep only their writes; "lazy": run all
    saw_lazy_block: bool = False
    depth: int = 0
    kept: list[KeyChange] = field(default_factory=list)


_applying: contextvars.ContextVar[_Applying | None] = contextvars.ContextVar("ato_applying", default=None)


class _SkipBlock(Exception):
    pass


def _no_global_trace(frame: FrameType, event: str, arg: Any) -> None:
    return None


class _LazyBlock:
    """``with Scope.lazy():``. Skipping the body uses a frame trace that raises on its first line."""

    def __enter__(self) -> None:
        state = _applying.get()
        if state is None:
            raise ConfigError("Scope.lazy() only works inside a view that a Scope is applying")
        self._state = state
        self._skipping = state.phase == "eager"
        if self._skipping:
            state.saw_lazy_block = True
            frame = sys._getframe(1)
            self._frame, self._old_frame_trace, self._old_trace = frame, frame.f_trace, sys.gettrace()
            sys.settrace(_no_global_trace)  # frame tracing only fires while some trace is set
            frame.f_trace = self._skip
            return
        state.depth += 1
        if state.phase == "lazy_part" and state.depth == 1:
            state.recorder.revert(state.config)  # drop what the re-run did outside lazy blocks

    def _skip(self, frame: FrameType, event: str, arg: Any) -> Any:
        raise _SkipBlock

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> bool:
        if self._skipping:
            sys.settrace(self._old_trace)
            self._frame.f_trace = self._old_frame_trace
            del self._frame
            return exc_type is _SkipBlock
        state = self._state
        state.depth -= 1
        if state.phase == "lazy_part" and state.depth == 0 and exc_type is None:
            state.kept.extend(state.recorder.capture(state.config))
        return False


# -- injection shared by Scope and MultiScope --------------------------------------------------------
def _inject(fn: F, scopes: Sequence[Scope], ensure: Callable[[], None]) -> F:
    signature = inspect.signature(fn)
    # A function without a parameter named like a scope (the seed's `forward(model, x)`) is
    # called as it is; the scope is still active while it runs.
    names = [scope.name for scope in scopes if scope.name in signature.parameters]
    by_name = {scope.name: scope for scope in scopes}
    merges = [scope._running for scope in scopes]
    # As in the seed, the caller's arguments fill the *other* parameters: `@scope def
    # train(config, epochs)` called as `train(10)` gets epochs=10. A keyword naming the scope's
    # parameter is the caller's own config and wins.
    others = signature.replace(parameters=[p for p in signature.parameters.values() if p.name not in names])
    # Only a parameter that can be passed by name can be given the caller's own config by name.
    by_keyword = [name for name in names if signature.parameters[name].kind is not inspect.Parameter.POSITIONAL_ONLY]
    label = getattr(fn, "__qualname__", None) or repr(fn)

    def fill(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        if not names or any(scope.mode == "OFF" for scope in scopes):
            return args, kwargs  # no scope here, or paused: the caller's arguments as they are
        given = {name: kwargs.pop(name) for name in by_keyword if name in kwargs}
        try:
            bound = others.bind(*args, **kwargs).arguments
        except TypeError as exc:
            raise TypeError(f"{label}(): {exc} (the scope fills {', '.join(names)})") from None
        if len(given) < len(names):
            ensure()
        call_args: list[Any] = []
        call_kwargs: dict[str, Any] = {}
        positional = True  # parameters go by position until one is left to its default
        for parameter in signature.parameters.values():
            if parameter.name in names:
                value = given[parameter.name] if parameter.name in given else by_name[parameter.name].config
            elif parameter.name in bound:
                value = bound[parameter.name]
            elif parameter.kind is parameter.POSITIONAL_ONLY and parameter.default is not parameter.empty:
                value = parameter.default  # a later positional-only parameter must not shift into its place
            else:
                positional = positional and parameter.kind is parameter.VAR_POSITIONAL
                continue
            if parameter.kind is parameter.VAR_POSITIONAL:
                call_args.extend(value)
            elif parameter.kind is parameter.VAR_KEYWORD:
                call_kwargs.update(value)
            elif parameter.kind is parameter.POSITIONAL_ONLY or (
                positional and parameter.kind is parameter.POSITIONAL_OR_KEYWORD
            ):
                call_args.append(value)
            else:
                positional = False
                call_kwargs[parameter.name] = value
        return tuple(call_args), call_kwargs

    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            args, kwargs = fill(args, kwargs)
            token = _active.set((*_active.get(), *scopes))
            try:
                with running(*merges):
                    return await fn(*args, **kwargs)
            finally:
                _active.reset(token)

        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        args, kwargs = fill(args, kwargs)
        token = _active.set((*_active.get(), *scopes))
        try:
            with running(*merges):
                return fn(*args, **kwargs)
        finally:
            _active.reset(token)

    return wrapper  # type: ignore[return-value]


PRINT = "print"  # the built-in view of ato 2.1.7: print the merged config (XYZ) and exit


def _run_from_command_line(
    apply: Callable[[Sequence[str]], Any], manual: Callable[[], str], printout: Callable[[], str] | None
) -> None:
    """Merge from the command line; turn user errors into one line and exit status 2.
    ``manual`` prints the manual and exits; ``print`` (where no view of that name was
    registered: ``printout`` is given) merges, prints the config and exits."""
    argv = scope_argv()
    try:
        tokens = parse_argv(argv)
        if any(isinstance(token, ManualRequest) for token in tokens):
            print(manual())
            raise SystemExit(0)
        printing = printout is not None and any(
            isinstance(token, ViewRequest) and token.name == PRINT for token in tokens
        )
        apply([arg for arg in argv if arg != PRINT] if printing else argv)
    except (CLIArgumentError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    if printing:
        assert printout is not None
        print(printout().rstrip("\n"))
        raise SystemExit(0)


def scope_argv() -> list[str]:
    """The command line a merge reads: :attr:`Scope.stored_arguments` where a 2.1.7 test set it,
    else the script's (:func:`ato.config.external_parser.command_line`)."""
    stored = Scope.stored_arguments
    return list(stored) if stored is not None else command_line()


# -- Scope --------------------------------------------------------------------------------------------
class Scope:
    """A config namespace: views, a merge order, and the recorded merge."""

    #: The live scopes by name, as in ato 2.1.7 (a later scope of the same name replaces the earlier).
    registry: ClassVar[weakref.WeakValueDictionary[str, Scope]] = weakref.WeakValueDictionary()
    #: Set (a list of tokens) to stand in for the command line, as ato 2.1.7's tests did.
    stored_arguments: ClassVar[list[str] | None] = None

    def __init__(
        self,
        config: Mapping[Any, Any] | str | None = None,
        name: str = "config",
        use_external_parser: bool = False,
        external_priority: int = -2,
        enable_override: bool = False,
    ) -> None:
        """``config`` is the starting config (recorded as the view ``_default``, priority -1).
        ``use_external_parser=True`` shares the command line with an ``argparse`` parser
        (:mod:`ato.config.external_parser`); its flags apply at ``external_priority``.
        ``enable_override`` is accepted for ato 2.1.7 code: a later scope of the same name always
        replaces the earlier one in :attr:`registry`. ``Scope('model')`` names the scope."""
        if isinstance(config, str):  # Scope("model"): the name, positionally
            name, config = config, None
        if not name.isidentifier():
            raise ConfigError(f"scope name {name!r} must be a Python identifier (it names a parameter)")
        self.name = name
        self.mode = "ON"  # "OFF" inside pause(): @scope functions get only the caller's arguments
        self.external_priority = external_priority
        self.use_external_parser = use_external_parser
        self._views: dict[str, View] = {}
        self._manuals: list[Callable[[ADict], Any]] = []
        self._assigned: list[str] = []
        self._config: ADict | None = None
        self._trace: MergeTrace | None = None
        self._multi: MultiScope | None = None
        self._running = RunningMerge()  # what a run started inside this scope's functions records
        if config is not None:
            self.observe(config, name="_default", default=True, priority=-1)
        type(self).registry[name] = self
        if use_external_parser:
            listen_to_argparse(self)

    @classmethod
    def initialize_registry(cls) -> None:
        """Forget every registered scope (ato 2.1.7 tests call this between cases)."""
        cls.registry.clear()

    def __repr__(self) -> str:
        return f"Scope(name={self.name!r}, views={list(self._views)})"

    # -- registering --------------------------------------------------------------------------------
    def observe(
        self,
        view: Any = None,
        /,
        config: Any = None,
        *,
        name: str | None = None,
        default: bool = False,
        priority: int = 0,
        chain_with: str | Sequence[str] | None = None,
        lazy: bool = False,
    ) -> Any:
        """Register a view: ``@scope.observe(...)`` on a function ``f(config)``, or
        ``scope.observe(mapping, name=...)`` for a dict, an argparse Namespace or an OmegaConf config.
        ato 2.1.7's spelling works too: a name first (``@scope.observe('fast')``,
        ``scope.observe('fast', config={...})``)."""
        if isinstance(view, str):
            view, name = None, view
        if config is not None:
            view = config

        def register(source: Any) -> Any:
            view_name = name or getattr(source, "__name__", None)
            if not view_name or not callable(source) and not is_mapping(source):
                raise ConfigError(
                    f"cannot observe {type(source).__name__} {source!r}: a view is a function f(config) "
                    "or a mapping given a name, e.g. scope.observe(args, name='args')"
                )
            self._register(view_name, source, default, priority, chain_with, lazy)
            return source

        return register if view is None else register(view)

    def _register(
        self, name: str, source: Any, default: bool, priority: int, chain_with: Any, lazy: bool
    ) -> None:
        if name == MANUAL:
            raise ConfigError("'manual' is reserved for printing the applying order; rename the view")
        previous = self._views.get(name)
        if previous is not None and _qualified(previous.source) != _qualified(source):
            raise ConfigError(f"scope {self.name!r} already has a view named {name!r}")
        chain = (chain_with,) if isinstance(chain_with, str) else tuple(chain_with or ())
        registered = previous.registered if previous else len(self._views)
        views = {**self._views, name: View(name, source, default, priority, lazy, chain, registered)}
        check_chains(views, self.name)
        self._views = views

    def manual(self, fn: F) -> F:
        """Register a function that documents keys: ``config.lr = 'Learning rate'``."""
        self._manuals.append(fn)
        return fn

    @staticmethod
    def lazy() -> _LazyBlock:
        """``with Scope.lazy():`` inside a view runs that block after the command line."""
        return _LazyBlock()

    def __call__(self, fn: F) -> F:
        """``@scope``: pass this scope's merged config to the parameter named like the scope."""
        return _inject(fn, [self], self._ensure_applied)

    def assign(self, literals: str | Sequence[str]) -> None:
        """Add view names and ``key=value`` literals as if typed first on the command line (ato
        2.1.7's ``assign``). They count from the next merge: the first use of the config, or
        :meth:`apply`. A malformed literal raises now, naming it."""
        tokens = [literals] if isinstance(literals, str) else list(literals)
        parse_argv(tokens)
        self._assigned.extend(tokens)

    def activate(self) -> None:
        self.mode = "ON"

    def deactivate(self) -> None:
        self.mode = "OFF"

    @contextlib.contextmanager
    def pause(self) -> Iterator[None]:
        """Inside the block, ``@scope`` functions get exactly the caller's arguments, no config."""
        self.deactivate()
        try:
            yield
        finally:
            self.activate()

    def __enter__(self) -> ADict:
        """``with scope:`` merges the config now (as ato 2.1.7 did) and gives it to the block."""
        return self.config

    def __exit__(self, *exc_info: Any) -> None:
        return None

    def argparse_parsed(self, defaults: Mapping[str, Any], given: Mapping[str, Any]) -> None:
        """An argparse parser read the command line (``use_external_parser=True``): record its
        defaults as the view ``argparse`` and the flags the command line set as ``argparse_given``."""
        for view_name in ("argparse", "argparse_given"):
            self._views.pop(view_name, None)  # the parser may read the command line again
        self._register("argparse", dict(defaults), True, self.external_priority, None, False)
        self._register("argparse_given", dict(given), True, self.external_priority, None, True)
        if self._config is not None or (self._multi is not None and self._multi._applied):
            warnings.warn(
                f"scope {self.name!r} was merged before argparse read the command line; "
                "merging again with the parsed flags",
                ConfigWarning,
                stacklevel=4,
            )
            self._config = None
            if self._multi is not None:
                self._multi._applied = False

    # -- fingerprints -----------------------------------------------------------------------------
    @staticmethod
    def trace(trace_id: str | None = None, *, follow_calls: bool = True) -> Callable[[F], F]:
        """``@scope.trace(trace_id=...)``: record the function's code fingerprint with every run
        (see :mod:`ato.fingerprints.code` for what it ignores and what changes it)."""
        from ato.fingerprints.tracing import static_trace

        return static_trace(trace_id, follow_calls=follow_calls)

    @staticmethod
    def runtime_trace(
        trace_id: str | None = None,
        init_fn: Callable[[], Any] | None = None,
        inspect_fn: Callable[[Any], Any] | None = None,
    ) -> Callable[[F], F]:
        """``@scope.runtime_trace(...)``: fingerprint what the function returns, call by call
        (see :mod:`ato.fingerprints.runtime`); the function still returns its result."""
        from ato.fingerprints.tracing import runtime_trace

        return runtime_trace(trace_id, init_fn, inspect_fn)

    # -- merging ------------------------------------------------------------------------------------
    def apply(self, argv: Sequence[str] | None = None) -> ADict:
        """Merge the config for ``argv`` (default: ``sys.argv[1:]``), record it, and return it."""
        if self._multi is not None:
            return self._multi.apply(argv)[self.name]
        argv = [*self._assigned, *(scope_argv() if argv is None else argv)]
        views: list[str] = []
        assignments: list[Assignment] = []
        for token in parse_argv(argv):
            if isinstance(token, ViewRequest):
                views.append(self._own_view_name(token.name))
            elif isinstance(token, Assignment):
                assignments.append(token)
        return self._merge(views, assignments, argv)

    def _own_view_name(self, name: str) -> str:
        head, _, rest = name.partition(".")
        if rest and head == self.name:
            return rest
        if rest:
            raise CLIArgumentError(name, f"no view named {name!r} in scope {self.name!r}")
        return name

    def _merge(self, view_names: Sequence[str], assignments: Sequence[Assignment], argv: Sequence[str]) -> ADict:
        eager, lazy = order_views(self._views, view_names, self.name)
        config = ADict()
        recorder = TraceRecorder(self.name, config, argv)
        with_lazy_blocks = []
        for planned in eager:
            state = self._run_view(planned.view, config, recorder, "eager")
            if state.saw_lazy_block:
                with_lazy_blocks.append(planned)
            recorder.record(config, planned.view.name, planned.kind, planned.view.priority, planned.chained_by)
        for assignment in assignments:
            _assign(config, assignment, self.name)
            recorder.record(config, assignment.raw, StepKind.CLI)
        for planned in with_lazy_blocks:
            state = self._run_view(planned.view, config, recorder, "lazy_part")
            recorder.revert(config)
            recorder.record(
                config, planned.view.name, StepKind.LAZY_PART, planned.view.priority,
                planned.chained_by, changes=state.kept,
            )
        for planned in lazy:
            self._run_view(planned.view, config, recorder, "lazy")
            recorder.record(config, planned.view.name, StepKind.LAZY, planned.view.priority, planned.chained_by)
        self._trace = recorder.complete(config)
        self._config = config
        self._running.trace, self._running.config = self._trace, config
        return config

    def _run_view(self, view: View, config: ADict, recorder: TraceRecorder, phase: str) -> _Applying:
        state = _Applying(recorder, config, phase)
        token = _applying.set(state)
        try:
            if callable(view.source):
                result = view.source(config)
                if isinstance(result, Mapping):
                    config.update(result, recursive=True)
            else:
                config.update(as_mapping(view.source), recursive=True)
        except Exception as exc:
            if hasattr(exc, "add_note"):  # Python 3.11+
                exc.add_note(f"while applying view {view.name!r} of scope {self.name!r}")
            raise
        finally:
            _applying.reset(token)
        return state

    def _ensure_applied(self) -> None:
        if self._multi is not None:
            self._multi._ensure_applied()
        elif self._config is None:
            printout = None if PRINT in self._views else lambda: self.config.to_xyz()
            _run_from_command_line(self.apply, self.format_manual, printout)

    @contextlib.contextmanager
    def running_with(self, config: ADict) -> Iterator[None]:
        """Act as if ``config`` were the merged config for the block (one search trial): the
        scope's functions get it, and a run started inside records this merge with it."""
        self._ensure_applied()
        previous = self._config
        self._config = config
        token = _active.set((*_active.get(), self))
        try:
            with running(RunningMerge(self._trace, config)):
                yield
        finally:
            _active.reset(token)
            self._config = previous

    # -- reading the result -------------------------------------------------------------------------------
    @property
    def config(self) -> ADict:
        """The merged config (merged from ``sys.argv`` on first use)."""
        self._ensure_applied()
        assert self._config is not None
        return self._config

    @config.setter
    def config(self, config: Mapping[Any, Any]) -> None:
        """Use ``config`` from now on (ato 2.1.7's HyperBand sets each trial's config this way).
        The recorded merge stays; a run started with it records how it differs from the merge
        as one more step (``after_merge``)."""
        self._ensure_applied()
        self._config = config if isinstance(config, ADict) else ADict(config)
        self._running.config = self._config

    @property
    def merge_trace(self) -> MergeTrace:
        """Every step of the last merge, as events."""
        self._ensure_applied()
        assert self._trace is not None
        return self._trace

    def provenance(self, key: str) -> KeyHistory:
        """The steps that set ``key`` (dotted), in order; ``.winner`` is the one that counts."""
        return self.merge_trace.history(key)

    @property
    def views(self) -> Mapping[str, View]:
        return dict(self._views)

    # -- the manual ---------------------------------------------------------------------------------------
    def applying_order(self) -> list[str]:
        """Every registered view in the order it applies when asked for, with ``(CLI Inputs)``."""
        optional = [name for name, view in self._views.items() if not view.default]
        eager, lazy = order_views(self._views, optional, self.name, strict=False)
        return [p.view.name for p in eager] + ["(CLI Inputs)"] + [p.view.name for p in lazy]

    def format_manual(self) -> str:
        """The ``manual`` page: applying order of views, then the user manuals."""
        docs = ADict.auto()
        for fn in self._manuals:
            fn(docs)
        lines = [
            _RULE,
            f'[Scope "{self.name}"]',
            "(The Applying Order of Views)",
            " → ".join(self.applying_order()),
            "",
            "(User Manuals)",
            *(f"{key}: {text}" for key, text in _dotted(docs)),
            _RULE,
        ]
        return "\n".join(lines)


# -- MultiScope -----------------------------------------------------------------------------------------
class MultiScope:
    """Several scopes, each its own namespace with its own views and priorities.

    On the command line a key is prefixed by its scope (``model.backbone=%resnet101%``); a view
    name may be too (``model.high_lr``), and must be where two scopes share it.
    """

    def __init__(self, *scopes: Scope) -> None:
        names = [scope.name for scope in scopes]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ConfigError(f"two scopes share the name {duplicates[0]!r}; give each its own name")
        for scope in scopes:
            scope._multi = self
        self.scopes: dict[str, Scope] = {scope.name: scope for scope in scopes}
        self._applied = False

    def __call__(self, fn: F) -> F:
        """``@scope``: pass each scope's config to the parameter named like that scope."""
        return _inject(fn, list(self.scopes.values()), self._ensure_applied)

    def apply(self, argv: Sequence[str] | None = None) -> dict[str, ADict]:
        """Merge every scope for ``argv`` (default: ``sys.argv[1:]``); return configs by scope name."""
        assigned = [f"{name}.{token}" for name, scope in self.scopes.items() for token in scope._assigned]
        argv = [*assigned, *(scope_argv() if argv is None else argv)]
        views: dict[str, list[str]] = {name: [] for name in self.scopes}
        assignments: dict[str, list[Assignment]] = {name: [] for name in self.scopes}
        for token in parse_argv(argv):
            if isinstance(token, ViewRequest):
                scope_name, view_name = self._route_view(token.name)
                views[scope_name].append(view_name)
            elif isinstance(token, Assignment):
                scope_name = self._route_key(token)
                assignments[scope_name].append(
                    Assignment(token.key[1:], token.value, token.raw)
                )
        configs = {
            name: scope._merge(views[name], assignments[name], argv) for name, scope in self.scopes.items()
        }
        self._applied = True
        return configs

    def _route_view(self, name: str) -> tuple[str, str]:
        head, _, rest = name.partition(".")
        if rest and head in self.scopes:
            return head, rest
        owners = [scope for scope in self.scopes.values() if name in scope._views]
        if len(owners) == 1:
            return owners[0].name, name
        qualified = [f"{s.name}.{v}" for s in self.scopes.values() for v in s._views]
        if owners:
            choices = " or ".join(f"{s.name}.{name}" for s in owners)
            raise CLIArgumentError(name, f"view {name!r} is in several scopes; write {choices}")
        plain = [v for s in self.scopes.values() for v in s._views]
        hint = suggest(name, plain) or suggest(name, qualified)
        raise CLIArgumentError(name, f"no scope has a view named {name!r}{hint}")

    def _route_key(self, token: Assignment) -> str:
        head = token.key[0]
        if head not in self.scopes:
            scopes = ", ".join(self.scopes)
            raise CLIArgumentError(
                token.raw,
                f"{head!r} is not a scope; prefix the key with one of {scopes} "
                f"(e.g. {next(iter(self.scopes))}.{'.'.join(token.key)}=...)",
            )
        if len(token.key) == 1:
            raise CLIArgumentError(token.raw, f"{head!r} is a scope; set a key inside it: {head}.KEY=value")
        return head

    def _ensure_applied(self) -> None:
        if not self._applied:
            printout = None if any(PRINT in scope._views for scope in self.scopes.values()) else (
                lambda: ADict({name: scope.config for name, scope in self.scopes.items()}).to_xyz()
            )
            _run_from_command_line(self.apply, self.format_manual, printout)

    def format_manual(self) -> str:
        return "\n".join(scope.format_manual() for scope in self.scopes.values())


def parse_args_pythonic() -> None:
    """Merge every registered scope from the command line now (ato 2.1.7's entry point; a scope
    already merged stays as it is). Several scopes outside a MultiScope share the command line as
    a MultiScope's do: each key is prefixed by its scope's name."""
    scopes = list(Scope.registry.values())
    groups = {scope._multi for scope in scopes}
    if len(scopes) > 1 and (None in groups or len(groups) > 1):
        MultiScope(*scopes)
    for scope in scopes:
        scope._ensure_applied()


# -- helpers -------------------------------------------------------------------------------------------
def _assign(config: ADict, assignment: Assignment, scope: str) -> None:
    target: dict[Any, Any] = config
    key = assignment.key
    for depth, part in enumerate(key[:-1]):
        child = target.get(part)
        if part not in target:
            child = ADict()
            target[part] = child
        elif not isinstance(child, dict):
            where = ".".join(key[: depth + 1])
            raise CLIArgumentError(
                assignment.raw,
                f"{where} is a {type(child).__name__}, not a mapping, so {'.'.join(key)} cannot be set",
            )
        target = child
    last = key[-1]
    if last not in target:
        hint = suggest(last, [k for k in target if isinstance(k, str)])
        if hint:
            warnings.warn(
                f"{assignment.raw!r} adds a new key {'.'.join(key)!r} to scope {scope!r}{hint}",
                ConfigWarning,
                stacklevel=2,
            )
    target[last] = assignment.value


def _dotted(config: Mapping[Any, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in config.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            yield from _dotted(value, name)
        else:
            yield name, value


def _qualified(source: Any) -> tuple[str, str] | int:
    if callable(source) and hasattr(source, "__qualname__"):
        return (getattr(source, "__module__", ""), source.__qualname__)
    return id(source)
