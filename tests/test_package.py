"""The package surface: public names, console script, ``python -m ato``, cheap import."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

import ato
from ato._version import __version__

PUBLIC = {"ADict", "AsyncSQLFinder", "AsyncSQLLogger", "MultiScope", "SQLFinder", "SQLLogger", "Scope", "__version__"}


def test_all_is_exactly_the_public_surface() -> None:
    assert set(ato.__all__) == PUBLIC
    for name in ato.__all__:
        assert getattr(ato, name) is not None
    assert ato.ADict.__module__ == "ato.config.adict"
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


HEAVY = ("numpy", "torch", "zstandard", "pandas", "pyarrow", "matplotlib", "rich", "omegaconf", "hydra",
         "mlflow", "transformers", "pytorch_lightning")


def test_import_ato_loads_neither_numpy_nor_torch() -> None:
    """Nor any optional or heavy dependency: the CLI's parser neither (``import ato`` under 150 ms)."""
    code = (
        "import sys, json, ato; from ato.cli.main import build_parser; from ato import ADict, Scope; ADict(a=1).get_structural_hash();"
        "s = Scope(); s.observe({'a': 1}, name='v', default=True); s.apply([]); build_parser();"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(result.stdout) == []


# The seed's import path -> the module that now defines its names.
SEED_PATHS = {
    "ato.adict": ("ato.config.adict", ["ADict"]),
    "ato.scope": ("ato.config.scope", ["Scope", "MultiScope", "parse_args_pythonic"]),
    "ato.xyz": ("ato.config.xyz", ["dump", "dumps", "load", "loads", "read_value", "XYZSyntaxError",
                                   "convert_string_to_value"]),
    "ato.utils": ("ato.config.xyz", ["convert_string_to_value"]),
    "ato.db_routers.sql.schema": ("ato.projections.queries", ["Project", "Artifact", "Fingerprint"]),
    "ato.parser": ("ato.config.command_line", ["parse_command", "parse_value", "parse_backtick_string",
                                               "parse_bracketed_value"]),
    "ato.db_routers.sql.manager": ("ato.tracking.logger", ["SQLLogger", "AsyncSQLLogger"]),
    "ato.hyperopt.hyperband": ("ato.hyperopt.search", ["HyperBand", "DistributedHyperBand"]),
    "ato.hyperopt.base": ("ato.hyperopt.framework", ["HyperOpt", "DistributedMixIn", "DistributedHyperOpt",
                                                     "GridSpaceMixIn"]),
}


@pytest.mark.parametrize("module", sorted(SEED_PATHS))
def test_the_seed_import_paths_re_export_the_real_objects(module: str) -> None:
    import importlib

    real, names = SEED_PATHS[module]
    seed, home = importlib.import_module(module), importlib.import_module(real)
    for name in names:
        assert getattr(seed, name) is getattr(home, name), f"{module}.{name}"
        assert getattr(seed, name).__module__ == real  # defined there, only re-exported here


def test_adict_pickles_made_before_the_move_still_load() -> None:
    import pickle
    from pathlib import Path

    data = (Path(__file__).parent / "data" / "adict_pickles_v0.pickle").read_bytes()
    assert b"ato.adict" in data  # made when ADict lived in ato/adict.py
    loaded = pickle.loads(data)
    assert type(loaded["plain"]) is ato.ADict
    assert loaded["plain"].model.layers == [1, 2, 3] and loaded["plain"].tags == ("a", "b")
    assert pickle.loads(pickle.dumps(loaded["plain"])) == loaded["plain"]
    assert loaded["frozen"] == loaded["plain"] and type(loaded["frozen"].model) is ato.ADict
    from ato.errors import FrozenConfigError

    with pytest.raises(FrozenConfigError):
        loaded["frozen"].lr = 1.0  # frozen then, frozen now
