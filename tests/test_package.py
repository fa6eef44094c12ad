"""The package surface: public names, console script, ``python -m ato``, cheap import."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

import ato
from ato._version import __version__

PUBLIC = {"ADict", "AsyncSQLLogger", "MultiScope", "SQLFinder", "SQLLogger", "Scope", "__version__"}


def test_all_is_exactly_the_public_surface() -> None:
    assert set(ato.__all__) == PUBLIC
    for name in ato.__all__:
        assert getattr(ato, name) is not None
    assert ato.ADict.__module__ == "ato.adict"
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        ato.Nope  # noqa: B018


def test_python_dash_m_ato_prints_version() -> None:
    result = subprocess.run([sys.executable, "-m", "ato", "--version"], capture_output=True, text=True)
    assert result.returncode == 0
    assert result.stdout.strip() == f"ato {__version__}"


def test_console_script_is_installed() -> None:
    exe = shutil.which("ato") or str(__import__("pathlib").Path(sys.executable).parent / "ato")
    result = subprocess.run([exe, "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    assert "why an ML result changed" in result.stdout


def test_import_ato_loads_neither_numpy_nor_torch() -> None:
    code = (
        "import sys, json, ato; from ato import ADict, Scope; ADict(a=1).get_structural_hash();"
        "s = Scope(); s.observe({'a': 1}, name='v', default=True); s.apply([]);"
        "print(json.dumps([m for m in ('numpy', 'torch') if m in sys.modules]))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(result.stdout) == []
