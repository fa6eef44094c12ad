"""Code fingerprints: a hash of a function's canonical logic.

The function's source is parsed (:mod:`ast`) and normalised before hashing, so the fingerprint
stays the same across comments, docstrings, whitespace and formatting, the function's own name,
its decorators, consistent renaming of its parameters and local variables, and the order of names
in one import; it changes with the logic (an operator, a constant, a call, control flow).
Global names (``model``, a helper's name) are kept: calling a different function is a logic change.

It depends on the Python version's AST (``ast.dump``), so the same code may fingerprint
differently under another minor version of Python; ``ato diff`` shows the Python version too.
Where no source exists (a function built in a REPL), the bytecode and constants are hashed.

``follow_calls``: the project's own functions that the traced function calls (globals resolved
when a run starts, defined outside site-packages and the standard library) are fingerprinted
the same way, recursively, and folded in, so a change in a helper changes the fingerprint too.
``detail`` says which part changed: ``own`` (the function itself) and ``calls`` (each helper).
It also names the normalised source of the function and of every helper it reaches,
``sources`` (``{name: sha256}``, :mod:`ato.fingerprints.sources`), so that ``ato diff --code``
can show the lines that changed. A name is the function's qualified name, prefixed by its module
unless that is ``__main__`` (the script).
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import inspect
import sysconfig
import textwrap
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ato.fingerprints.sources import source_text, text_sha256

__all__ = ["code_fingerprint", "logic_hash"]

_LIBRARY_ROOTS = tuple(
    str(Path(path).resolve())
    for key in ("stdlib", "platstdlib", "purelib", "platlib")
    if (path := sysconfig.get_paths().get(key))
)


class _Canonical(ast.NodeTransformer):
    """Rename parameters and locals to ``_0``, ``_1``, ... in order of first appearance."""

    def __init__(self, local_names: set[str]) -> None:
        self.local_names = local_names
        self.mapping: dict[str, str] = {}

    def _rename(self, name: str) -> str:
        if name not in self.local_names:
            return name
        return self.mapping.setdefault(name, f"_{len(self.mapping)}")

    def visit_Name(self, node: ast.Name) -> ast.AST:
        return ast.copy_location(ast.Name(id=self._rename(node.id), ctx=node.ctx), node)

    def visit_arg(self, node: ast.arg) -> ast.AST:
        node.arg = self._rename(node.arg)
        node.annotation = None
        return node

    def visit_alias(self, node: ast.alias) -> ast.AST:
        if node.asname:
            node.asname = self._rename(node.asname)
        elif "." not in node.name and node.name in self.local_names:
            node.asname = self._rename(node.name)
        return node


def _local_names(function: ast.AST) -> set[str]:
    declared_global: set[str] = set()
    bound: set[str] = set()
    for node in ast.walk(function):
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            declared_global.update(node.names)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.alias):
            bound.add(node.asname or node.name.split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return bound - declared_global


def _without_docstring(body: list[ast.stmt]) -> list[ast.stmt]:
    first = body[0] if body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        return body[1:] or [ast.Pass()]
    return body


def _canonical_dump(source: str) -> str:
    tree = ast.parse(textwrap.dedent(source))
    function = next(
        node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
    )
    if not isinstance(function, ast.Lambda):
        function.name = "_"
        function.decorator_list = []
        function.returns = None
    for node in ast.walk(function):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            node.names.sort(key=lambda alias: (alias.name, alias.asname or ""))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            node.body = _without_docstring(node.body)
    canonical = _Canonical(_local_names(function)).visit(function)
    return ast.dump(canonical, annotate_fields=True, include_attributes=False)


def _bytecode_dump(code: types.CodeType) -> str:
    consts = [(_bytecode_dump(c) if isinstance(c, types.CodeType) else repr(c)) for c in code.co_consts]
    return repr((code.co_code, consts, code.co_names))


_cache: dict[types.CodeType, str] = {}


def logic_hash(fn: Callable[..., Any]) -> str:
    """The SHA-256 of ``fn``'s canonical logic (not following calls); cached per code object."""
    code = inspect.unwrap(fn).__code__
    cached = _cache.get(code)
    if cached is None:
        try:
            dump = _canonical_dump(inspect.getsource(code))
        except (OSError, TypeError, SyntaxError, StopIteration):
            dump = _bytecode_dump(code)  # no source (a REPL, exec): hash the bytecode instead
        cached = _cache[code] = hashlib.sha256(dump.encode()).hexdigest()
    return cached


def _is_project_function(value: Any) -> bool:
    if not isinstance(value, types.FunctionType):
        return False
    filename = value.__code__.co_filename
    if filename.startswith("<"):
        return False
    resolved = str(Path(filename).resolve())
    return not resolved.startswith(_LIBRARY_ROOTS) and not resolved.startswith(str(Path(__file__).parent.parent))


def _called_helpers(fn: types.FunctionType) -> dict[str, types.FunctionType]:
    helpers: dict[str, types.FunctionType] = {}
    names = set(fn.__code__.co_names)
    for const in fn.__code__.co_consts:  # names used in nested functions and comprehensions
        if isinstance(const, types.CodeType):
            names.update(const.co_names)
    for name in sorted(names):
        value: Any = fn.__globals__.get(name, getattr(builtins, name, None))
        value = inspect.unwrap(value) if callable(value) else value
        if _is_project_function(value) and value is not fn:
            helpers[name] = value
    return helpers


def code_fingerprint(fn: Callable[..., Any], *, follow_calls: bool = True, _seen: frozenset[int] = frozenset()) -> tuple[str, dict[str, Any]]:
    """``(fingerprint, detail)`` of ``fn``; see the module docstring."""
    fn = inspect.unwrap(fn)
    own = logic_hash(fn)
    calls: dict[str, str] = {}
    sources: dict[str, str] = {}
    text = source_text(fn)
    if text is not None:
        sources[_source_name(fn)] = text_sha256(text)
    if follow_calls and isinstance(fn, types.FunctionType):
        for name, helper in _called_helpers(fn).items():
            if id(helper) in _seen:
                continue
            calls[name], helper_detail = code_fingerprint(helper, follow_calls=True, _seen=_seen | {id(fn)})
            for source_name, digest in helper_detail.get("sources", {}).items():
                sources.setdefault(source_name, digest)
    detail: dict[str, Any] = {"own": own}
    if not calls:
        if sources:
            detail["sources"] = sources
        return own, detail
    combined = hashlib.sha256(own.encode())
    for name in sorted(calls):
        combined.update(f"\n{name}={calls[name]}".encode())
    detail["calls"] = calls
    if sources:
        detail["sources"] = dict(sorted(sources.items()))
    return combined.hexdigest(), detail


def _source_name(fn: Callable[..., Any]) -> str:
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", repr(fn))
    return qualname if module in (None, "__main__") else f"{module}.{qualname}"
