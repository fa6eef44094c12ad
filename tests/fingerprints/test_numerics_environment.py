"""The numerics of a run are part of its environment: torch's determinism and precision switches,
read when each run starts, and ``ato diff`` naming a changed one as a likely cause."""

from __future__ import annotations

import json
from pathlib import Path

from ato.tracking.finder import SQLFinder
from tests.conftest import ato, run_script

# Two runs in one process: the switches change between them, so they must be read per run.
TWO_RUNS = """
import sys, warnings
warnings.simplefilter('error')
import torch
from ato import SQLLogger

config = {'experiment': {'project_name': 'numerics'}}

def train(logger):
    torch.manual_seed(0)
    x = torch.randn(64, 64)
    logger.log_metric('loss', float((x @ x).abs().mean()), 0)

with SQLLogger(config) as logger:
    logger.run()
    train(logger)
    logger.finish()
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.benchmark = True
    torch.use_deterministic_algorithms(True)
    torch.set_default_dtype(torch.float64)
    logger.run()
    train(logger)
    logger.finish()
"""

NO_TORCH = """
import sys
from ato import SQLLogger

with SQLLogger({'experiment': {'project_name': 'numerics'}}) as logger:
    logger.run()
    logger.log_metric('loss', 0.5, 0)
    logger.finish()
print('torch' in sys.modules)
"""

# A run as Ato recorded it before the switches were kept: no "numerics" in its environment.
OLD_RUN = """
import torch
import ato.fingerprints.environment as environment
from ato import SQLLogger

current = environment.environment
def before_numerics():
    detail = current()
    del detail['numerics']
    for name in ('gpu_capabilities', 'gpu_driver'):
        detail['frameworks'].pop(name, None)
    return detail
environment.environment = before_numerics

with SQLLogger({'experiment': {'project_name': 'numerics'}}) as logger:
    logger.run()
    logger.log_metric('loss', 0.5, 0)
    logger.finish()
"""

ONE_RUN = """
import torch
from ato import SQLLogger

with SQLLogger({'experiment': {'project_name': 'numerics'}}) as logger:
    logger.run()
    logger.log_metric('loss', 0.5, 0)
    logger.finish()
"""


def _db(tmp_path: Path) -> Path:
    [path] = list(tmp_path.glob("*.db"))
    return path


def test_switches_are_read_when_each_run_starts_and_diff_names_them(tmp_path: Path) -> None:
    run_script(tmp_path, TWO_RUNS)
    with SQLFinder(_db(tmp_path)) as finder:
        first, second = (
            next(f.detail for f in finder.get_fingerprints(run) if f.trace_id == "environment") for run in (1, 2)
        )
    assert first["frameworks"]["torch"] and isinstance(first["frameworks"]["cuda_available"], bool)
    if first["frameworks"]["cuda_available"]:  # on a GPU machine: the cards and the driver
        assert first["frameworks"]["gpus"] and first["frameworks"]["gpu_capabilities"]
        assert first["frameworks"]["gpu_driver"]
    before, after = first["numerics"], second["numerics"]
    assert before["torch.backends.cuda.matmul.allow_tf32"] is False and after["torch.backends.cuda.matmul.allow_tf32"] is True
    assert before["torch.backends.cudnn.benchmark"] is False and after["torch.backends.cudnn.benchmark"] is True
    assert before["torch.are_deterministic_algorithms_enabled()"] is False
    assert after["torch.are_deterministic_algorithms_enabled()"] is True
    assert (before["torch.get_default_dtype()"], after["torch.get_default_dtype()"]) == ("torch.float32", "torch.float64")
    for name in ("torch.backends.cudnn.deterministic", "torch.backends.cudnn.allow_tf32",
                 "torch.get_float32_matmul_precision()", "torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction",
                 "torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction"):
        assert name in before

    report = json.loads(ato("diff", "1", "2", "--json", cwd=tmp_path).stdout)
    changed = {item["switch"]: (item["a"], item["b"]) for item in report["numerics"]}
    assert changed.items() >= {
        "torch.backends.cuda.matmul.allow_tf32": (False, True),
        "torch.backends.cudnn.benchmark": (False, True),
        "torch.are_deterministic_algorithms_enabled()": (False, True),
        "torch.get_default_dtype()": ("torch.float32", "torch.float64"),
    }.items()
    # allow_tf32 is one of three views of the same state; each records what it reads
    assert set(changed) - {"torch.backends.cuda.matmul.allow_tf32", "torch.backends.cudnn.benchmark",
                           "torch.are_deterministic_algorithms_enabled()", "torch.get_default_dtype()"} <= {
        "torch.get_float32_matmul_precision()", "torch.backends.cuda.matmul.fp32_precision"}
    assert report["config"] == [] and report["code"] == [] and report["environment"] == []
    assert report["metrics"][0]["first_difference"] is not None  # float64 gives another loss
    assert "numerics switches changed" in report["verdict"]

    text = ato("diff", "1", "2", cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    assert "numerics changed: torch.backends.cuda.matmul.allow_tf32 False -> True (may change results)" in text.stdout
    assert "numerics changed: torch.get_default_dtype() torch.float32 -> torch.float64 (may change results)" in text.stdout


def test_a_numerics_variable_is_named_by_diff(tmp_path: Path) -> None:
    run_script(tmp_path, ONE_RUN)
    run_script(tmp_path, ONE_RUN, env={"CUBLAS_WORKSPACE_CONFIG": ":4096:8"})
    report = json.loads(ato("diff", "1", "2", "--json", cwd=tmp_path).stdout)
    assert report["numerics"] == [{"switch": "$CUBLAS_WORKSPACE_CONFIG", "a": None, "b": ":4096:8"}]
    assert report["environment"] == []  # named once, as numerics
    text = ato("diff", "1", "2", cwd=tmp_path).stdout
    assert "numerics changed: $CUBLAS_WORKSPACE_CONFIG None -> :4096:8 (may change results)" in text
    same = ato("diff", "1", "1", cwd=tmp_path).stdout
    assert "numerics: same switches" in same


def test_a_script_that_never_imports_torch_records_no_torch_fields(tmp_path: Path) -> None:
    result = run_script(tmp_path, NO_TORCH)
    assert result.stdout.strip() == "False"  # Ato did not import torch
    with SQLFinder(_db(tmp_path)) as finder:
        [env] = [f.detail for f in finder.get_fingerprints(1) if f.trace_id == "environment"]
    assert env["numerics"] == {}
    assert not {"torch", "cuda", "cudnn", "gpus", "gpu_driver"} & set(env["frameworks"])


def test_runs_recorded_before_the_switches_were_kept_still_diff_cleanly(tmp_path: Path) -> None:
    run_script(tmp_path, OLD_RUN)
    run_script(tmp_path, ONE_RUN)
    run_script(tmp_path, NO_TORCH)
    with SQLFinder(_db(tmp_path)) as finder:
        [old] = [f.detail for f in finder.get_fingerprints(1) if f.trace_id == "environment"]
    assert "numerics" not in old
    for pair in (("1", "2"), ("2", "1"), ("1", "3")):
        result = ato("diff", *pair, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        if pair == ("1", "3"):  # 3 never imported torch: neither run recorded a switch
            assert "numerics: not recorded (neither run recorded torch's switches)" in result.stdout
        else:
            assert "numerics: not compared (only one run recorded torch's switches)" in result.stdout
        report = json.loads(ato("diff", *pair, "--json", cwd=tmp_path).stdout)
        assert report["numerics"] == [] and report["numerics_recorded"] is False
        assert report["environment"] == [] or pair == ("1", "3")  # 3 never imported torch
    # torch in one run, not in the other: the framework differs, no switch is compared
    report = json.loads(ato("diff", "2", "3", "--json", cwd=tmp_path).stdout)
    assert report["numerics"] == [] and report["numerics_recorded"] is False
    assert any(item["what"] == "framework torch" for item in report["environment"])


def test_two_runs_recorded_before_the_switches_were_kept_say_not_recorded(tmp_path: Path) -> None:
    run_script(tmp_path, OLD_RUN)
    run_script(tmp_path, OLD_RUN)
    result = ato("diff", "1", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "numerics: not recorded (neither run recorded torch's switches)" in result.stdout
    assert "only one run" not in result.stdout
    report = json.loads(ato("diff", "1", "2", "--json", cwd=tmp_path).stdout)
    assert report["numerics_recorded"] is False and report["numerics_recorded_by"] == 0


def test_a_variable_an_old_run_never_watched_is_not_a_change(tmp_path: Path) -> None:
    """TORCH_ALLOW_TF32_CUBLAS_OVERRIDE is watched since the switches are kept: a run recorded
    before never looked at it, so its absence there is no "None -> 1". A variable both watched
    (CUBLAS_WORKSPACE_CONFIG) still compares."""
    run_script(tmp_path, OLD_RUN)
    run_script(tmp_path, ONE_RUN, env={"TORCH_ALLOW_TF32_CUBLAS_OVERRIDE": "1"})
    run_script(tmp_path, ONE_RUN, env={"TORCH_ALLOW_TF32_CUBLAS_OVERRIDE": "1", "CUBLAS_WORKSPACE_CONFIG": ":4096:8"})
    run_script(tmp_path, ONE_RUN)
    for pair in (("1", "2"), ("2", "1")):
        report = json.loads(ato("diff", *pair, "--json", cwd=tmp_path).stdout)
        assert report["numerics"] == [] and report["environment"] == []
        assert "numerics" not in report["verdict"]
        text = ato("diff", *pair, cwd=tmp_path).stdout
        assert "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE" not in text
    report = json.loads(ato("diff", "1", "3", "--json", cwd=tmp_path).stdout)
    assert report["numerics"] == [{"switch": "$CUBLAS_WORKSPACE_CONFIG", "a": None, "b": ":4096:8"}]
    # two runs that both watched it: a change, named as such (beside the TF32 switches it sets)
    report = json.loads(ato("diff", "4", "2", "--json", cwd=tmp_path).stdout)
    assert {"switch": "$TORCH_ALLOW_TF32_CUBLAS_OVERRIDE", "a": None, "b": "1"} in report["numerics"]


def test_two_runs_that_never_imported_torch_say_not_recorded_not_same(tmp_path: Path) -> None:
    run_script(tmp_path, NO_TORCH)
    run_script(tmp_path, NO_TORCH)
    result = ato("diff", "1", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "numerics: not recorded (neither run recorded torch's switches)" in result.stdout
    assert "same switches" not in result.stdout
