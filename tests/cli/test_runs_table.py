"""``ato runs`` answers "which is best, what varied": config columns that vary, best and last of
chosen metrics, sorting and filters, and a table that fits the terminal without cutting numbers."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import jsonschema
import pytest

from ato.cli.outputs import json_schema
from ato.cli.run_table import Column, fit, render
from ato.cli.runs import guess_mode, parse_metric
from tests.cli.databases import copy_database
from tests.conftest import ato, run_script

SWEEP = """
import os
from ato.scope import Scope
from ato.db_routers.sql.manager import SQLLogger

scope = Scope()

@scope.observe(default=True)
def defaults(config):
    config.lr = 0.1
    config.model = {'depth': 18, 'name': 'resnet'}
    config.seed = 0
    config.experiment = {'project_name': 'sweep'}

@scope.observe()
def deep(config):
    config.model.depth = 50

@scope
def main(config):
    with SQLLogger(config) as logger:
        logger.run(tags=['sweep'])
        for step in range(5):
            logger.log_metric('val/acc', config.lr * step + config.model.depth / 100, step)
            logger.log_metric('loss', 1.0 / (step + 1 + config.seed), step)
        if os.environ.get('FAIL'):
            raise RuntimeError('diverged')

main()
"""


@pytest.fixture(scope="module")
def sweep_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sweep")
    run_script(folder, SWEEP)                          # 1: acc best 0.58, loss last 0.2
    run_script(folder, SWEEP, "lr=0.2")                # 2: acc best 0.98
    run_script(folder, SWEEP, "deep")                  # 3: acc best 0.9
    run_script(folder, SWEEP, "seed=1", "lr=0.05")     # 4: acc best 0.38, loss last 0.166667
    run_script(folder, SWEEP, "lr=0.3", check=False, env={"FAIL": "1"})  # 5: failed, acc best 1.38
    return folder / "experiments.db"


@pytest.fixture
def sweep(tmp_path: Path, sweep_template: Path) -> Path:
    return copy_database(sweep_template, tmp_path)


def _table(out: str) -> tuple[list[str], list[list[str]]]:
    """The header and the rows of plain output, cells split on runs of two spaces or more."""
    lines = [line for line in out.splitlines() if line.strip()]
    header = re.split(r" {2,}", lines[0].strip())
    return header, [re.split(r" {2,}", line.strip()) for line in lines[1:]]


def _ids(out: str) -> list[int]:
    return [int(row[0]) for row in _table(out)[1]]


def test_the_default_table_shows_the_keys_that_varied_and_the_first_metric(sweep: Path) -> None:
    result = ato("runs", cwd=sweep)
    assert result.returncode == 0, result.stderr
    header, rows = _table(result.stdout)
    assert header[:8] == ["id", "uid", "status", "started", "duration", "host", "tags", "structure"]
    # lr, model.depth and seed varied; model.name and the project did not.
    assert header[8:] == ["lr", "model.depth", "seed", "loss best(min)", "loss last"]
    assert [row[0] for row in rows] == ["1", "2", "3", "4", "5"]
    by_id = {row[0]: dict(zip(header, row)) for row in rows}
    assert by_id["3"]["model.depth"] == "50" and by_id["4"]["lr"] == "0.05" and by_id["4"]["seed"] == "1"
    assert by_id["4"]["loss last"] == "0.166667" and by_id["1"]["loss best(min)"] == "0.2"
    assert by_id["5"]["status"] == "failed" and by_id["1"]["status"] == "completed"
    assert by_id["1"]["uid"] == json.loads(ato("runs", "--json", cwd=sweep).stdout)[0]["uid"][:8]


def test_metrics_best_and_last_with_a_direction(sweep: Path) -> None:
    out = ato("runs", "--metric", "val/acc:max", "--metric", "loss:max", cwd=sweep).stdout
    header, rows = _table(out)
    assert header[-4:] == ["val/acc best(max)", "val/acc last", "loss best(max)", "loss last"]
    by_id = {row[0]: dict(zip(header, row)) for row in rows}
    assert by_id["2"]["val/acc best(max)"] == "0.98" and by_id["4"]["loss best(max)"] == "0.5"
    assert guess_mode("val_loss") == "min" and guess_mode("top1/error") == "min" and guess_mode("acc") == "max"
    assert parse_metric("a:b:min") == parse_metric("a:b:min") and parse_metric("a:b:min").key == "a:b"
    assert parse_metric("time:wall").key == "time:wall"  # a colon that is not a mode is part of the key
    unknown = ato("runs", "--metric", "val/acc_typo", cwd=sweep)
    assert unknown.returncode == 1 and "did you mean 'val/acc'" in unknown.stderr


def test_sort_puts_the_best_first_and_a_dash_reverses(sweep: Path) -> None:
    assert _ids(ato("runs", "--metric", "val/acc:max", "--sort", "val/acc", cwd=sweep).stdout) == [5, 2, 3, 1, 4]
    assert _ids(ato("runs", "--sort", "loss", cwd=sweep).stdout) == [4, 1, 2, 3, 5]  # min: smallest first, ties by id
    assert _ids(ato("runs", "--sort=-lr", cwd=sweep).stdout) == [5, 2, 1, 3, 4]
    assert _ids(ato("runs", "--sort", "model.depth", cwd=sweep).stdout)[-1] == 3
    assert _ids(ato("runs", "--sort=-id", cwd=sweep).stdout) == [5, 4, 3, 2, 1]
    bad = ato("runs", "--sort", "model.dept", cwd=sweep)
    assert bad.returncode == 1 and "model.depth" in bad.stderr


def test_filters_status_last_and_where(sweep: Path) -> None:
    assert _ids(ato("runs", "--status", "failed", cwd=sweep).stdout) == [5]
    assert _ids(ato("runs", "--last", "2", cwd=sweep).stdout) == [4, 5]
    assert _ids(ato("runs", "--where", "lr=0.1", cwd=sweep).stdout) == [1, 3]
    assert _ids(ato("runs", "--where", "model.depth=50", cwd=sweep).stdout) == [3]
    assert _ids(ato("runs", "--where", "model.depth=50.0", cwd=sweep).stdout) == [3]  # numbers by value
    assert _ids(ato("runs", "--where", "model.name=resnet", "--where", "seed=1", cwd=sweep).stdout) == [4]
    assert _ids(ato("runs", "--where", "lr=0.1", "--status", "completed", "--last", "1", cwd=sweep).stdout) == [3]
    unknown = ato("runs", "--where", "model.dpth=50", cwd=sweep)
    assert unknown.returncode == 1 and "did you mean 'model.depth'" in unknown.stderr
    malformed = ato("runs", "--where", "lr", cwd=sweep)
    assert malformed.returncode == 1 and "KEY=VALUE" in malformed.stderr
    assert ato("runs", "--last", "0", cwd=sweep).returncode == 2


def test_cols_chooses_the_config_columns(sweep: Path) -> None:
    header, rows = _table(ato("runs", "--cols", "model,seed", cwd=sweep).stdout)
    assert header[8:11] == ["model.depth", "model.name", "seed"] and "lr" not in header
    assert rows[0][9] == "resnet"
    unknown = ato("runs", "--cols", "modle", cwd=sweep)
    assert unknown.returncode == 1 and "did you mean 'model" in unknown.stderr
    # With one run listed nothing varies: no config columns by default.
    header, _ = _table(ato("runs", "--where", "seed=1", cwd=sweep).stdout)
    assert header[8:] == ["loss best(min)", "loss last"]


def test_json_has_every_field_and_validates(sweep: Path) -> None:
    result = ato("runs", "--json", "--metric", "val/acc:max", "--where", "lr=0.1", cwd=sweep)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    jsonschema.Draft202012Validator(json_schema("runs")).validate(data)
    assert [run["id"] for run in data] == [1, 3]
    first = data[0]
    assert first["config"]["model.depth"] == 18 and first["config"]["model.name"] == "resnet"
    assert first["chosen"] == [{"key": "val/acc", "mode": "max", "best": pytest.approx(0.58), "last": pytest.approx(0.58)}]
    assert first["host"] and first["duration"] >= 0 and first["search"] is None
    assert first["metrics"]["loss"]["count"] == 5  # the fields it had before stay


def _strip(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)


WIDE = [
    Column("id", ["1", "22"], numeric=True),
    Column("uid", ["8a859737", "286f42cc"], drop="uid"),
    Column("status", ["completed", "failed"], drop="status"),
    Column("started", ["2026-11-28 01:26:15", "2026-11-28 01:27:15"], drop="started"),
    Column("tags", ["a-very-long-tag,another-long-tag", "x"], drop="tags"),
    Column("data.path", ["/datasets/imagenet/train/with/a/long/path", "/d"]),
    Column("lr", ["0.000123456", "0.1"], numeric=True),
    Column("val/accuracy", ["0.912345", "-"], numeric=True, sub="best(max)"),
    Column("val/accuracy", ["0.87654", "nan"], numeric=True, sub="last"),
]


@pytest.mark.parametrize("width", [50, 60, 80, 100, 200])
def test_the_terminal_table_fits_without_wrapping_or_cutting_numbers(width: int) -> None:
    text = _strip(render(None, WIDE, width))
    table_lines = text.splitlines()[:5]  # two header lines, the rule, two rows (a note may follow)
    assert all(len(line) <= width for line in table_lines), (width, text)
    rows = table_lines[3:5]
    for number in ("22", "0.000123456", "0.912345", "0.87654", "nan"):
        assert any(re.search(rf"(^|\s){re.escape(number)}(\s|$)", row) for row in rows), (number, text)
    if width >= 200:
        assert "…" not in text and "not shown" not in text
    else:
        assert "…" in text  # the long path or tags were elided, never a number


def test_a_terminal_too_narrow_for_the_numbers_gets_them_whole_in_a_wider_table() -> None:
    text = _strip(render(None, WIDE, 30))
    rows = text.splitlines()[3:5]
    assert "0.000123456" in rows[0] and "0.912345" in rows[0] and "0.87654" in rows[0]
    assert "not shown: uid, status, started, tags" in text  # every optional column went first


def test_long_text_is_elided_before_a_column_is_left_out() -> None:
    shown, widths, hidden = fit(WIDE, 100)
    assert hidden == [] or "data.path" not in hidden
    by_header = {column.header + (column.sub or ""): w for column, w in zip(shown, widths)}
    assert by_header["data.path"] < len("/datasets/imagenet/train/with/a/long/path")
    assert by_header["lr"] == len("0.000123456")
    shown, widths, hidden = fit(WIDE, 50)
    assert hidden[:2] == ["uid", "status"] or "tags" in hidden  # optional columns go, in order
    assert {c.header for c in shown} >= {"id", "data.path", "lr", "val/accuracy"}


def _in_terminal(args: list[str], cwd: Path, columns: int) -> str:
    """Run ``python -m ato ARGS`` in a pseudo-terminal ``columns`` wide; what it showed."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    env = {**os.environ, "COLUMNS": str(columns), "TERM": "xterm"}
    process = subprocess.Popen([sys.executable, "-m", "ato", *args], cwd=cwd, stdin=slave, stdout=slave,
                               stderr=slave, env=env)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert process.wait(timeout=120) == 0, out
    return _strip(out.decode()).replace("\r\n", "\n")


def test_a_real_80_column_terminal_gets_a_fitted_table(sweep: Path) -> None:
    out = _in_terminal(["runs", "--metric", "val/acc:max", "--metric", "loss"], sweep, 80)
    lines = out.splitlines()
    note = [line for line in lines if line.startswith("(to fit, not shown:")]
    table = [line for line in lines if line and line not in note]
    assert all(len(line) <= 80 for line in table), out
    assert note and "structure" in note[0]
    assert any(" 0.166667 " in f" {line} " for line in table)  # run 4's loss, whole
    assert any("0.98" in line for line in table) and any("1.38" in line for line in table)
    # Piped, the same command prints every column whole.
    piped = ato("runs", "--metric", "val/acc:max", "--metric", "loss", cwd=sweep).stdout
    assert "…" not in piped and "structure" in piped.splitlines()[0]


def test_a_dash_reverses_text_and_numbers_alike_and_missing_or_nan_stay_last() -> None:
    from types import SimpleNamespace
    from typing import Any

    from ato.cli.runs import _sort

    runs: Any = [SimpleNamespace(id=i, metric_summaries={}) for i in range(1, 6)]
    models = {1: {"model": "a"}, 2: {"model": "c"}, 3: {"model": "b"}, 4: {}, 5: {"model": "c"}}
    assert [r.id for r in _sort(runs, models, "model", [])] == [1, 3, 2, 5, 4]
    assert [r.id for r in _sort(runs, models, "-model", [])] == [2, 5, 3, 1, 4]  # ties keep id order
    rates = {1: {"lr": 0.1}, 2: {"lr": float("nan")}, 3: {"lr": 0.01}, 4: {"lr": "auto"}, 5: {}}
    assert [r.id for r in _sort(runs, rates, "lr", [])] == [3, 1, 4, 2, 5]  # numbers, then text
    assert [r.id for r in _sort(runs, rates, "-lr", [])] == [4, 1, 3, 2, 5]
