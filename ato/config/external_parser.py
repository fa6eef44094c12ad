"""The script's command line, and how Ato shares it with an ``argparse`` parser.

A script may define an ``ArgumentParser`` next to a Scope and be run as
``python train.py --epochs 5 lr=0.1 high_lr``: the ``--flags`` are argparse's, the ``key=value``
literals and view names are Ato's. A Scope created with ``use_external_parser=True`` (as in
ato 2.1.7) asks for this. While such a scope exists, a parser that reads ``sys.argv`` (``args``
not given) leaves the tokens it does not know and that do not start with ``-`` to Ato, instead of
failing on them; the parsed flags are handed to the scopes, which record them as merge steps named
``argparse`` (the parser's defaults, applied first) and ``argparse_given`` (the flags the command
line set, applied after Ato's literals, so they win), and ``parse_args()`` also unpacks as the
``(args, rest)`` pair 2.1.7 returned. A parser given an explicit ``args`` list, and every parser
once no such scope is left, behaves exactly as argparse does.

Without the opt-in, argparse is left alone, and a Scope still reads only its own tokens where the
command line has ``--flags``: the options of each ``ArgumentParser`` among the main script's
globals take their tokens (worked out from the options and their ``nargs``; nothing of the parser
runs), so a script calling ``parser.parse_known_args()`` works as in 2.1.7; the flags are not
merged into the config, as in 2.1.7. A flag typed on the command line counts as given even where
its value equals the default.

ato 2.1.7 replaced ``ArgumentParser.parse_args`` for every program that created any Scope; Ato
wraps ``parse_known_args`` only while an opted-in scope is alive, and removes the wrapper when the
last one goes.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

__all__ = ["ArgparseListener", "ParsedArguments", "command_line", "listen_to_argparse", "script_arguments"]

# Kernels that start a notebook pass their own arguments (`-f kernel.json`): not Ato's.
_KERNEL_LAUNCHERS = {"ipykernel_launcher.py", "colab_kernel_launcher.py", "__main__.py"}

# The tokens argparse left to Ato, with the sys.argv they were read from (a test or a launcher
# that sets another sys.argv starts afresh).
_ato_tokens: tuple[list[str], list[str]] | None = None


def command_line() -> list[str]:
    """Ato's part of the command line: the script's arguments (:func:`script_arguments`), less
    what an argparse parser took or would take (see the module docstring)."""
    if _ato_tokens is not None and _ato_tokens[0] == sys.argv:
        return list(_ato_tokens[1])
    return _without_parser_flags(script_arguments())


def script_arguments() -> list[str]:
    """``sys.argv[1:]``; none inside a Jupyter/IPython kernel, whose ``-f kernel.json`` belongs to
    the kernel, nor under a test runner (pytest, ``python -m unittest``), whose arguments select
    tests: ``@scope`` functions run in notebooks and in a user's unit tests."""
    program = sys.argv[0] if sys.argv else ""
    launcher = os.path.basename(program)
    if launcher in _KERNEL_LAUNCHERS and (launcher != "__main__.py" or "ipykernel" in program):
        return []  # Jupyter's `-f k.json`, VS Code's `--ip=... --f=...`: all the kernel's
    if _is_test_runner(program):
        return []
    return sys.argv[1:]


def _without_parser_flags(argv: list[str]) -> list[str]:
    """What the script's own argparse parsers leave: where the command line has ``--flags``, the
    tokens that the options of the ``ArgumentParser`` objects among the main script's globals
    would take (the option and the values its ``nargs`` asks for) are left out. Worked out from
    the options alone: nothing of the parser runs (no ``type=`` callable, no action)."""
    main = sys.modules.get("__main__")
    if main is None or not any(token.startswith("-") for token in argv):
        return argv
    options: dict[str, argparse.Action] = {}
    for parser in [value for value in vars(main).values() if isinstance(value, argparse.ArgumentParser)]:
        for action in parser._actions:  # argparse's (documented-by-use) list of options
            options.update(dict.fromkeys(action.option_strings, action))
    left: list[str] = []
    index = 0
    while index < len(argv):
        token = argv[index]
        index += 1
        name, inline, _ = token.partition("=")
        found = options.get(name) if token.startswith("-") else None
        if found is None:
            left.append(token)
            continue
        nargs = found.nargs
        if inline or nargs == 0:
            continue
        if nargs is None or isinstance(nargs, int):
            index += 1 if nargs is None else nargs  # the option's own values, whatever they look like
            continue
        # ?, * and +: values up to the next option or Ato literal
        while index < len(argv) and not (argv[index].startswith("-") or "=" in argv[index]):
            index += 1
            if nargs == "?":
                break
    return left


def typed_options(parser: argparse.ArgumentParser, argv: Sequence[str]) -> set[str]:
    """The ``dest`` of every option that ``argv`` names (``--lr 0.1`` or ``--lr=0.1``), typed
    even where its value equals the default."""
    typed = set()
    for action in parser._actions:
        for option in action.option_strings:
            if any(token == option or token.startswith(option + "=") for token in argv):
                typed.add(action.dest)
    return typed


_TEST_RUNNERS = {"pytest", "py.test", "nose2", "nosetests"}


def _is_test_runner(program: str) -> bool:
    """``pytest``/``python -m pytest``, ``python -m unittest`` (which sets that as argv[0])."""
    if program == "python -m unittest" or os.path.basename(program) in _TEST_RUNNERS:
        return True
    parent = os.path.basename(os.path.dirname(program))
    return os.path.basename(program) == "__main__.py" and parent in {"pytest", "unittest", "nose2"}


class ArgparseListener(Protocol):
    """What a scope offers to hear the flags an argparse parser read from the command line."""

    def argparse_parsed(self, defaults: Mapping[str, Any], given: Mapping[str, Any]) -> None: ...


_listeners: weakref.WeakSet[Any] = weakref.WeakSet()
_lock = threading.RLock()  # also taken by a finalizer, which may run inside a locked block
_original: Callable[..., Any] | None = None


class ParsedArguments(argparse.Namespace):
    """What a parser that shares the command line returns: a Namespace that also unpacks as
    ``args, rest = parser.parse_args()``, the pair ato 2.1.7's patched ``parse_args`` returned."""

    def __iter__(self) -> Iterator[Any]:
        return iter((self, []))


def listen_to_argparse(listener: ArgparseListener) -> None:
    """Share the command line with argparse while ``listener`` is alive (see the module docstring)."""
    global _original
    with _lock:
        _listeners.add(listener)
        if _original is None:
            _original = argparse.ArgumentParser.parse_known_args
            argparse.ArgumentParser.parse_known_args = _parse_known_args  # type: ignore[assignment,method-assign]
    weakref.finalize(listener, _release)


def _release() -> None:
    global _original
    with _lock:
        if _original is not None and not list(_listeners):  # iterating skips dead references
            argparse.ArgumentParser.parse_known_args = _original  # type: ignore[method-assign]
            _original = None  # the last opted-in scope is gone: argparse is argparse again


def _parse_known_args(
    parser: argparse.ArgumentParser, args: Sequence[str] | None = None, namespace: Any = None
) -> tuple[argparse.Namespace, list[str]]:
    global _ato_tokens
    with _lock:
        original, listeners = _original, list(_listeners)
    assert original is not None  # the wrapper is installed only together with the original
    if args is not None or not listeners:
        return original(parser, args, namespace)  # type: ignore[no-any-return]
    fresh = namespace is None
    argv = script_arguments()
    known, unknown = original(parser, argv, namespace)
    if fresh:
        known.__class__ = ParsedArguments
    ato = [token for token in unknown if not token.startswith("-")]
    rest = [token for token in unknown if token.startswith("-")]
    _ato_tokens = (list(sys.argv), ato)
    parsed = vars(known)
    defaults = {name: parser.get_default(name) for name in parsed}
    typed = typed_options(parser, argv)
    given = {name: value for name, value in parsed.items() if name in typed}
    for listener in listeners:
        listener.argparse_parsed(defaults, given)
    return known, rest
