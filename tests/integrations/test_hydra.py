"""Hydra and OmegaConf: a real Hydra app, run as a subprocess, records Hydra's provenance.

Each app runs in its own interpreter (Hydra keeps global state: its config, its search path), in
``tmp_path``, and logs to ``tmp_path/experiments.db`` (the default database of that folder).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from ato.adict import ADict
from ato.config.merge_trace import replay
from ato.db_routers.sql.manager import SQLFinder, SQLLogger
from ato.integrations.hydra import trace_config, track
from ato.tracking.replay import replay_merges
from tests.conftest import ROOT, ato

pytest.importorskip("hydra")
omegaconf = pytest.importorskip("omegaconf")

CONFIGS = {
    "config.yaml": """\
        defaults:
          - model: resnet
          - optimizer: adam
          - _self_
        lr: 0.001
        epochs: 10
        name: run-${model.name}
        schedule: [0, "${epochs}"]
        opt_copy: ${optimizer}
        hydra:
          run:
            dir: outputs/${now:%H-%M-%S-%f}
        """,
    "model/resnet.yaml": """\
        name: resnet
        depth: 50
        """,
    "model/vit.yaml": """\
        defaults:
          - backbone: small
          - _self_
        name: vit
        patch: 16
        """,
    "model/backbone/small.yaml": """\
        width: 384
        """,
    "optimizer/adam.yaml": """\
        kind: adam
        lr: ${lr}
        """,
}

APP = """\
import hydra
from omegaconf import DictConfig, open_dict

from ato.db_routers.sql.manager import SQLLogger
from ato.integrations.hydra import tracked


@hydra.main(config_path="conf", config_name="config", version_base=None)
@tracked
def main(cfg: DictConfig) -> None:
    {before}
    with SQLLogger(cfg) as logger:
        logger.run()
        logger.log_metric("loss", 1.0 / cfg.lr)


if __name__ == "__main__":
    {setup}
    main()
"""


def write_app(folder: Path, before: str = "pass", setup: str = "pass") -> None:
    for name, text in CONFIGS.items():
        path = folder / "conf" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    # Code given for the body of main() or the __main__ block, indented to fit there.
    body = {name: textwrap.indent(textwrap.dedent(code), "    ").strip() for name, code in (("before", before), ("setup", setup))}
    (folder / "app.py").write_text(APP.format(**body))


def run_app(folder: Path, *overrides: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "app.py", *overrides], capture_output=True, text=True, cwd=folder, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    return result


def replay_json(folder: Path, run: str) -> dict[str, Any]:
    result = ato("replay", run, "--json", cwd=folder)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def chains(scope: dict[str, Any]) -> dict[str, list[tuple[str, str, Any, Any]]]:
    return {
        key["key"]: [(link["step"], link["kind"], link["old"], link["new"]) for link in key["chain"]]
        for key in scope["keys"]
    }


@pytest.fixture
def app(tmp_path: Path) -> Path:
    write_app(tmp_path)
    return tmp_path


def test_replay_shows_which_key_came_from_which_defaults_choice_and_which_override(app: Path) -> None:
    run_app(app, "model=vit", "lr=0.1", "+extra=3")
    audit = replay_json(app, "1")
    (scope,) = audit["scopes"]
    assert scope["scope"] == "hydra"
    assert scope["argv"] == ["model=vit", "lr=0.1", "+extra=3"]
    assert scope["exact"] is True
    order = [(step["step"], step["kind"], step["chained_by"]) for step in scope["order"]]
    # Hydra's merging order: a nested defaults entry before its parent's own keys (_self_ last).
    assert order[:6] == [
        ("model/backbone=small", "default", "model/vit"),
        ("model=vit", "named", None),  # the command line chose it
        ("optimizer=adam", "default", None),  # the defaults list chose it
        ("config", "default", None),
        ("lr=0.1", "cli", None),
        ("+extra=3", "cli", None),
    ]
    assert all(kind == "lazy" for _, kind, _ in order[6:])
    keys = chains(scope)
    assert keys["model.name"] == [("model=vit", "named", None, "vit")]
    assert keys["model.backbone.width"] == [("model/backbone=small", "default", None, 384)]
    assert keys["epochs"] == [("config", "default", None, 10)]
    assert keys["lr"] == [("config", "default", None, 0.001), ("lr=0.1", "cli", 0.001, 0.1)]
    assert keys["extra"] == [("+extra=3", "cli", None, 3)]
    assert "model.depth" not in keys  # resnet's key: the choice was vit

    text = ato("replay", "1", cwd=app)
    assert text.returncode == 0, text.stderr
    assert "model=vit (named): set 'vit'" in text.stdout
    assert "lr=0.1 (cli): 0.001 -> 0.1" in text.stdout
    assert "replay: exact" in text.stdout


def test_interpolations_are_recorded_as_written_and_resolved(app: Path) -> None:
    run_app(app, "lr=0.1")
    (scope,) = replay_json(app, "1")["scopes"]
    keys = chains(scope)
    assert keys["optimizer.lr"] == [
        ("optimizer=adam", "default", None, "${lr}"),
        ("resolve ${lr}", "lazy", "${lr}", 0.1),
    ]
    assert keys["name"] == [
        ("config", "default", None, "run-${model.name}"),
        ("resolve run-${model.name}", "lazy", "run-${model.name}", "run-resnet"),
    ]
    # An interpolation inside a list: resolved by the step that resolves what is not text.
    assert keys["schedule"] == [("config", "default", None, [0, "${epochs}"]), ("resolve", "lazy", [0, "${epochs}"], [0, 10])]
    # One that resolves to a mapping: its keys come from the expression they were written as.
    assert keys["opt_copy.lr"] == [("resolve ${optimizer}", "lazy", None, 0.1)]
    assert scope["exact"] is True

    with SQLFinder(ADict(experiment=ADict(sql=ADict(db_path=f"sqlite:///{app / 'experiments.db'}")))) as finder:
        config = finder.get_run(1).config
    assert config.optimizer.lr == 0.1 and config.name == "run-resnet"  # the run's config is resolved
    assert config.opt_copy == {"kind": "adam", "lr": 0.1}
    assert "hydra" not in config  # Hydra's own settings are not the app's config


def test_diff_of_two_hydra_runs_names_the_override_that_differs(app: Path) -> None:
    run_app(app, "lr=0.1")
    run_app(app, "lr=0.2")
    run_app(app, "model=vit", "lr=0.2")
    result = ato("diff", "1", "2", "--json", cwd=app)
    assert result.returncode == 0, result.stderr
    config = {row["key"]: (row["set_by_a"], row["set_by_b"]) for row in json.loads(result.stdout)["config"]}
    assert config == {
        "lr": ("lr=0.1 (cli)", "lr=0.2 (cli)"),
        "optimizer.lr": ("resolve ${lr} (lazy)", "resolve ${lr} (lazy)"),
        "opt_copy.lr": ("resolve ${optimizer} (lazy)", "resolve ${optimizer} (lazy)"),
    }
    text = ato("diff", "2", "3", cwd=app)
    assert "model.name: 'resnet' [model=resnet (default)]  ->  'vit' [model=vit (named)]" in text.stdout


def test_multirun_jobs_each_record_their_own_overrides(app: Path) -> None:
    run_app(app, "-m", "lr=0.1,0.2")
    argvs = [replay_json(app, run)["scopes"] for run in ("1", "2")]
    # One trace per run (the first job's trace does not leak into the second's run).
    assert [[scope["argv"] for scope in scopes] for scopes in argvs] == [[["lr=0.1"]], [["lr=0.2"]]]
    assert [[step["step"] for step in scopes[0]["order"]][3] for scopes in argvs] == ["lr=0.1", "lr=0.2"]
    assert all(scopes[0]["exact"] for scopes in argvs)


def test_keys_the_app_changes_after_composing_are_one_more_step(tmp_path: Path) -> None:
    write_app(tmp_path, before="""
        with open_dict(cfg):
            cfg.epochs = 20
    """)
    run_app(tmp_path, "lr=0.1")
    (scope,) = replay_json(tmp_path, "1")["scopes"]
    assert chains(scope)["epochs"] == [("config", "default", None, 10), ("(changed after the merge)", "after_merge", 10, 20)]
    assert scope["exact"] is True


TRACK_APP = """\
import hydra
from omegaconf import DictConfig, open_dict

from ato.db_routers.sql.manager import SQLLogger
from ato.integrations.hydra import track


@hydra.main(config_path="conf", config_name="config", version_base=None)
def main(cfg: DictConfig) -> None:
    with open_dict(cfg):
        cfg.model.depth = 101  # before Ato sees the config: not Hydra's composition
    with track(cfg) as config, SQLLogger(config) as logger:
        logger.run()


if __name__ == "__main__":
    main()
"""


def test_track_in_a_hydra_app_records_what_hydra_did_not_compose(app: Path) -> None:
    (app / "app.py").write_text(TRACK_APP)
    run_app(app, "lr=0.1")
    (scope,) = replay_json(app, "1")["scopes"]
    keys = chains(scope)
    assert keys["model.depth"] == [
        ("model=resnet", "default", None, 50),
        ("(changed after Hydra composed it)", "after_merge", 50, 101),
    ]
    assert keys["lr"][-1] == ("lr=0.1", "cli", 0.001, 0.1)
    assert scope["exact"] is True


def test_a_config_removed_by_an_override_and_a_deleted_key(app: Path) -> None:
    run_app(app, "~epochs", "schedule=[1,2]")
    (scope,) = replay_json(app, "1")["scopes"]
    steps = [step["step"] for step in scope["order"]]
    assert "~epochs" in steps and "schedule=[1,2]" in steps
    keys = chains(scope)
    assert "epochs" not in keys
    assert keys["schedule"][-1] == ("schedule=[1,2]", "cli", [0, "${epochs}"], [1, 2])
    assert scope["exact"] is True


def test_a_structured_config_option_from_the_config_store(tmp_path: Path) -> None:
    write_app(tmp_path, setup="""
        import dataclasses
        from hydra.core.config_store import ConfigStore
        Tiny = dataclasses.make_dataclass("Tiny", [("name", str, "tiny"), ("width", int, 8)])
        ConfigStore.instance().store(group="model", name="tiny", node=Tiny)
    """)
    run_app(tmp_path, "model=tiny", "model.width=16")
    (scope,) = replay_json(tmp_path, "1")["scopes"]
    assert chains(scope)["model.width"] == [("model=tiny", "named", None, 8), ("model.width=16", "cli", 8, 16)]
    assert "(changed after Hydra composed it)" not in [step["step"] for step in scope["order"]]
    assert scope["exact"] is True


def test_where_hydra_internals_differ_the_composition_is_one_step_with_a_warning(tmp_path: Path) -> None:
    write_app(tmp_path, setup="""
        from hydra._internal.config_loader_impl import ConfigLoaderImpl
        def changed(*args): raise AttributeError("no such thing in this Hydra")
        ConfigLoaderImpl.compute_defaults_list = changed  # Hydra's own composition does not call it
    """)
    result = run_app(tmp_path, "model=vit", "lr=0.1")
    assert "could not recompose Hydra's config entry by entry (AttributeError" in result.stderr
    (scope,) = replay_json(tmp_path, "1")["scopes"]
    assert scope["order"][0]["step"] == "config (optimizer=adam, model=vit, model/backbone=small) model=vit lr=0.1"
    assert chains(scope)["lr"] == [(scope["order"][0]["step"], "default", None, 0.1)]
    assert scope["exact"] is True


# -- plain OmegaConf, in this process --------------------------------------------------------------------
def test_a_plain_dictconfig_is_a_runs_config_with_its_interpolations(tmp_path: Path) -> None:
    db = tmp_path / "experiments.db"
    cfg = omegaconf.OmegaConf.create(
        {"experiment": {"project_name": "oc", "sql": {"db_path": f"sqlite:///{db}"}}, "lr": 0.1, "opt": {"lr": "${lr}"}}
    )
    with track(cfg) as config, SQLLogger(config) as logger:
        logger.run()
    with SQLFinder(config) as finder:
        audit = replay_merges(finder, 1)
        run = finder.get_run(1)
    (scope,) = audit.scopes
    assert scope.scope == "omegaconf"
    assert [step["step"] for step in scope.order] == ["omegaconf", "resolve ${lr}"]
    assert {entry.key: [link["new"] for link in entry.chain] for entry in scope.keys}["opt.lr"] == ["${lr}", 0.1]
    assert scope.exact
    assert run.config.opt.lr == 0.1 and run.config.lr == 0.1


def test_changes_to_the_tracked_config_before_the_run_are_recorded(tmp_path: Path) -> None:
    db = tmp_path / "experiments.db"
    cfg = omegaconf.OmegaConf.create({"experiment": {"sql": {"db_path": f"sqlite:///{db}"}}, "lr": 0.1})
    with track(cfg) as config:
        config.lr = 0.3
        with SQLLogger(config) as logger:
            logger.run()
    with SQLFinder(config) as finder:
        (scope,) = replay_merges(finder, 1).scopes
    assert [(step["step"], step["kind"]) for step in scope.order][-1] == ("(changed after the merge)", "after_merge")
    assert scope.exact


def test_no_trace_outside_the_block(tmp_path: Path) -> None:
    db = tmp_path / "experiments.db"
    cfg = omegaconf.OmegaConf.create({"experiment": {"sql": {"db_path": f"sqlite:///{db}"}}, "lr": 0.1})
    with track(cfg) as config:
        pass
    with SQLLogger(config) as logger:
        logger.run()
    with SQLFinder(config) as finder:
        assert replay_merges(finder, 1).scopes == []


def test_trace_config_replays_exactly_and_refuses_what_is_not_a_dictconfig() -> None:
    cfg = omegaconf.OmegaConf.create({"a": {"b": "${c}", "l": ["${c}", 2]}, "c": 1.5, "s": "\\${not}"})
    trace, config = trace_config(cfg)
    assert config == {"a": {"b": 1.5, "l": [1.5, 2]}, "c": 1.5, "s": "${not}"}
    result = replay(trace)
    assert result.exact and result.config == config
    with pytest.raises(TypeError, match="takes an OmegaConf DictConfig .* not dict"):
        trace_config({"a": 1})  # type: ignore[arg-type]


def test_missing_omegaconf_says_what_to_install(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['omegaconf'] = None\n"  # as if it were not installed
        "import ato.integrations.hydra as h\n"
        "try:\n    h.trace_config(object())\n"
        "except ImportError as error:\n    print(error)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "pip install 'ato[hydra]'" in result.stdout


def test_importing_the_integration_imports_neither_hydra_nor_omegaconf(tmp_path: Path) -> None:
    code = "import sys, ato.integrations.hydra; print(sorted(m for m in sys.modules if m.split('.')[0] in ('hydra', 'omegaconf')))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr
