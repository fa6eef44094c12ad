"""The shape of the code: no module uses another's private names, and the twin facades match."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from ato import AsyncSQLFinder, AsyncSQLLogger, SQLFinder, SQLLogger

PACKAGE = Path(__file__).resolve().parent.parent / "ato"
# Private names of the standard library that have no public spelling.
# The standard library's underscored names Ato relies on, each where no public one exists:
# sys._getframe (lazy blocks), ArgumentParser._actions (argparse lists a parser's options nowhere else).
STDLIB_PRIVATE = {"_getframe", "_actions"}


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _defined_privates(tree: ast.AST) -> set[str]:
    """Every private name a module defines: functions, classes, assignments, attributes it sets."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Attribute):
            names.add(node.target.attr)
    return {name for name in names if _private(name)}


def _uses_of_foreign_privates(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    own = _defined_privates(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ato"):
            found += [f"imports {node.module}.{a.name}" for a in node.names if _private(a.name)]
        elif isinstance(node, ast.Attribute) and _private(node.attr):
            owner = node.value.id if isinstance(node.value, ast.Name) else None
            if owner in ("self", "cls") or node.attr in own or node.attr in STDLIB_PRIVATE:
                continue
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_uses_another_modules_private_names(path: Path) -> None:
    assert _uses_of_foreign_privates(path) == []


def test_the_private_name_check_catches_a_reach_into_another_module(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from ato.adict import _to_plain\n\ndef f(scope):\n    return scope._trace\n")
    assert _uses_of_foreign_privates(bad) == ["imports ato.adict._to_plain", "line 4: scope._trace"]


def _public_members(cls: type) -> dict[str, object]:
    return {name: inspect.getattr_static(cls, name) for name in dir(cls) if not name.startswith("_")}


@pytest.mark.parametrize(("sync", "async_"), [(SQLLogger, AsyncSQLLogger), (SQLFinder, AsyncSQLFinder)])
def test_async_twins_have_every_public_method_and_property_of_the_sync_ones(sync: type, async_: type) -> None:
    sync_members, async_members = _public_members(sync), _public_members(async_)
    assert sorted(sync_members) == sorted(async_members)
    for name, member in sync_members.items():
        twin = async_members[name]
        if isinstance(member, property):
            assert isinstance(twin, property) and twin.__doc__, name
            continue
        assert callable(member) and inspect.iscoroutinefunction(twin), name
        assert not inspect.iscoroutinefunction(member), name
        assert inspect.getdoc(member) and inspect.getdoc(twin), f"{name} needs a docstring on both twins"
        left, right = inspect.signature(member), inspect.signature(twin)
        assert list(left.parameters.values()) == list(right.parameters.values()), name
    assert inspect.signature(sync.__init__) == inspect.signature(async_.__init__)
    assert hasattr(sync, "__enter__") and inspect.iscoroutinefunction(async_.__aenter__)
