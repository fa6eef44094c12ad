"""``ato export PROJECT``: the runs table (or the metric points) as csv, json, parquet, markdown or
latex; files read back equal the finder's frames, a LaTeX paper table is usable as is, unknown
names and impossible requests are one-line errors, and a missing extra is named."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pandas as pd
import pytest

from ato import SQLFinder
from ato.cli.export_formats import latex, latex_escape, markdown
from ato.cli.outputs import json_schema
from ato.tracking.frames import Table
from tests.conftest import ato
from tests.tracking.test_frames import log_sweep

METRICS = ("--metric", "val/acc:max", "loss:min")


@pytest.fixture(scope="module")
def sweep_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sweep")
    log_sweep(folder / "experiments.db")
    return folder


@pytest.fixture
def folder(tmp_path: Path, sweep_template: Path) -> Path:
    """The sweep of tests/tracking/test_frames.py in ./experiments.db (a copy)."""
    shutil.copytree(sweep_template, tmp_path, dirs_exist_ok=True)
    return tmp_path


def _frame(folder: Path, metrics: list[str]) -> pd.DataFrame:
    with SQLFinder(folder / "experiments.db") as finder:
        return finder.runs_frame("sweep", metrics)


def _as_written(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as csv and parquet hold it: a list in a cell is its JSON text."""
    return frame.assign(**{"model.layers": frame["model.layers"].map(json.dumps)})


def test_csv_read_back_equals_the_runs_frame(folder: Path) -> None:
    result = ato("export", "sweep", *METRICS, "-o", "runs.csv", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == "ato export: 3 runs, 24 columns written to runs.csv\n"
    back = pd.read_csv(folder / "runs.csv", parse_dates=["started", "finished"])
    assert back["warmup"].isna().tolist() == [False, False, True]
    back["warmup"] = back["warmup"].astype(object).where(back["warmup"].notna(), None)  # the frame's NA: None
    pd.testing.assert_frame_equal(back, _as_written(_frame(folder, ["val/acc:max", "loss:min"])), check_dtype=False)
    assert math.isnan(back["loss:last"][1]) and back["loss:last"][2] == math.inf and back["model.layers"][0] == "[64, 64]"
    stdout = ato("export", "sweep", *METRICS, cwd=folder)  # csv is the default, stdout without -o
    assert stdout.returncode == 0 and stdout.stdout == (folder / "runs.csv").read_text()


def test_parquet_read_back_equals_the_runs_frame(folder: Path) -> None:
    result = ato("export", "sweep", *METRICS, "-o", "runs.parquet", cwd=folder)  # the format from the suffix
    assert result.returncode == 0, result.stderr
    back = pd.read_parquet(folder / "runs.parquet")
    pd.testing.assert_frame_equal(back, _as_written(_frame(folder, ["val/acc:max", "loss:min"])))


def test_parquet_goes_to_a_redirected_stdout_but_never_to_a_terminal(folder: Path) -> None:
    with open(folder / "piped.parquet", "wb") as out:
        subprocess.run([sys.executable, "-m", "ato", "export", "sweep", "--format", "parquet"], cwd=folder,
                       stdout=out, check=True, timeout=120)
    assert pd.read_parquet(folder / "piped.parquet")["id"].tolist() == [1, 2, 3]
    refused = ato("export", "sweep", "--format", "parquet", cwd=folder)  # a text stream: no bytes to write
    assert refused.returncode == 1 and "parquet is binary: write it to a file with -o FILE.parquet" in refused.stderr


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_points_read_back_equal_the_metrics_frame(folder: Path, suffix: str) -> None:
    result = ato("export", "sweep", "--points", "--metric", "loss", "val/acc", "-o", f"points.{suffix}", cwd=folder)
    assert result.returncode == 0, result.stderr
    with SQLFinder(folder / "experiments.db") as finder:
        expected = finder.metrics_frame([1, 2, 3], ["loss", "val/acc"])
    if suffix == "csv":
        back = pd.read_csv(folder / "points.csv", parse_dates=["timestamp"])
        expected = expected.assign(key=expected["key"].astype(str))
        pd.testing.assert_frame_equal(back, expected, check_dtype=False)
    else:
        pd.testing.assert_frame_equal(pd.read_parquet(folder / "points.parquet"), expected)
    assert len(expected) == 18


def test_json_is_the_published_schema_with_nan_as_a_string_and_missing_as_null(folder: Path) -> None:
    result = ato("export", "sweep", "--format", "json", *METRICS, cwd=folder)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    jsonschema.Draft202012Validator(json_schema("export")).validate(rows)
    assert ": NaN" not in result.stdout and [row["loss:last"] for row in rows] == [0.25, "NaN", "Infinity"]
    assert rows[2]["loss:best"] is None and rows[2]["warmup"] is None and rows[0]["warmup"] is True
    assert rows[0]["model.layers"] == [64, 64] and rows[0]["started"].endswith("+00:00")
    assert ato("export", "sweep", "--json", *METRICS, cwd=folder).stdout == result.stdout  # --json is the same
    written = ato("export", "sweep", *METRICS, "-o", "runs.json", cwd=folder)
    assert written.returncode == 0 and (folder / "runs.json").read_text() == result.stdout
    points = json.loads(ato("export", "sweep", "--points", "--json", "--metric", "loss", cwd=folder).stdout)
    jsonschema.Draft202012Validator(json_schema("export")).validate(points)
    assert [(p["run"], p["step"], p["value"]) for p in points if p["run"] == 2] == [(2, 0, 0.9), (2, 1, 0.4), (2, 2, "NaN")]


def test_the_export_schema_describes_the_rows(tmp_path: Path) -> None:
    schema = json.loads(ato("schema", "export", cwd=tmp_path).stdout)
    assert schema["type"] == "array" and "KEY:best" in schema["description"] and "--points" in schema["description"]


PAPER = ("export", "sweep", "--format", "latex", *METRICS, "--columns", "model.depth=Depth",
         "optimizer.name=Optimizer", "lr", "val/acc:best=Val. acc (%)", "loss:last", "--sort", "val/acc:best",
         "--descending")


def test_a_latex_paper_table_of_chosen_columns_is_usable_as_is(folder: Path) -> None:
    result = ato(*PAPER, cwd=folder)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "% ato export: needs \\usepackage{booktabs}\n"
        "\\begin{tabular}{rlrrr}\n"
        "\\toprule\n"
        "Depth & Optimizer & lr & Val. acc (\\%) & loss:last \\\\\n"
        "\\midrule\n"
        "2 & sgd & 0.1 & 0.9 & 0.25 \\\\\n"
        "4 & adam & 0.01 & 0.75 & NaN \\\\\n"
        "8 & adam\\_w & 0.001 & 0.3 & $\\infty$ \\\\\n"
        "\\bottomrule\n"
        "\\end{tabular}\n"
    )


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="needs pdflatex")
def test_the_latex_table_compiles(folder: Path) -> None:
    (folder / "table.tex").write_text(ato(*PAPER, cwd=folder).stdout)
    (folder / "paper.tex").write_text(
        "\\documentclass{article}\\usepackage{booktabs}\\begin{document}\\input{table}\\end{document}\n")
    subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "paper.tex"], cwd=folder,
                   check=True, capture_output=True, timeout=120)


def test_latex_escapes_every_special_character_and_writes_numbers_in_math() -> None:
    table = Table({"lr_decay & 50%": [-0.5, 1.2e-05, None], "note": ["a_b #1 {x} ~^\\ $", "<|>", None]})
    assert latex(table, digits=3).splitlines()[1:] == [
        "\\begin{tabular}{rl}",
        "\\toprule",
        "lr\\_decay \\& 50\\% & note \\\\",
        "\\midrule",
        "$-0.5$ & a\\_b \\#1 \\{x\\} \\textasciitilde{}\\textasciicircum{}\\textbackslash{} \\$ \\\\",
        "$1.2\\times10^{-5}$ & \\textless{}\\textbar{}\\textgreater{} \\\\",
        "-- & -- \\\\",
        "\\bottomrule",
        "\\end{tabular}",
    ]
    assert latex_escape("val/acc:best") == "val/acc:best"


def test_markdown_table_aligns_numbers_and_marks_missing_values(folder: Path) -> None:
    result = ato("export", "sweep", "--format", "markdown", *METRICS, "--columns", "id", "model.depth",
                 "optimizer.name", "warmup", "val/acc:best", "loss:last", "loss:best", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "| id | model.depth | optimizer.name | warmup | val/acc:best | loss:last | loss:best |\n"
        "| ---: | ---: | :--- | :--- | ---: | ---: | ---: |\n"
        "| 1 | 2 | sgd | true | 0.9 | 0.25 | 0.25 |\n"
        "| 2 | 4 | adam | false | 0.75 | NaN | 0.4 |\n"
        "| 3 | 8 | adam_w | – | 0.3 | inf | – |\n"
    )
    assert markdown(Table({"a|b": ["x|y"]})) == "| a\\|b |\n| :--- |\n| x\\|y |\n"


def test_sort_puts_missing_and_nan_last_and_status_filters(folder: Path) -> None:
    def ids(*args: str) -> list[int]:
        result = ato("export", "sweep", "--json", "--metric", "loss:min", "--columns", "id", *args, cwd=folder)
        assert result.returncode == 0, result.stdout
        return [row["id"] for row in json.loads(result.stdout)]

    assert ids("--sort", "loss:best") == [1, 2, 3]  # run 3 has no finite loss
    assert ids("--sort", "loss:best", "--descending") == [2, 1, 3]
    assert ids("--sort", "loss:last", "--descending") == [3, 1, 2]  # inf first, NaN last
    assert ids("--sort", "optimizer.name") == [2, 3, 1]
    assert ids("--status", "failed") == [] and ids("--status", "completed", "failed") == [1, 2, 3]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("swep",), "no project 'swep' in "),
        (("sweep", "--metric", "val/ac:max"), "no metric 'val/ac' in project 'sweep'; did you mean 'val/acc'?"),
        (("sweep", "--points", "--metric", "los"), "no metric 'los' in project 'sweep'; did you mean 'loss'?"),
        (("sweep", "--columns", "model.dept"), "no column 'model.dept' in the export"),
        (("sweep", "--columns", "val/acc:best"), "metric columns need --metric KEY"),
        (("sweep", "--sort", "lrr"), "no column 'lrr' to sort by in project 'sweep'; did you mean 'lr'?"),
        (("sweep", "--points", "--format", "latex"), "--points writes csv, json or parquet, not latex"),
        (("sweep", "--points", "--columns", "id"), "--columns and --sort shape the runs table"),
        (("sweep", "--columns", "id=x", "lr=x"), "two columns would be called 'x'"),
        (("sweep", "-o", "no/such/folder/runs.csv"), "cannot write no/such/folder/runs.csv: No such file or directory"),
    ],
)
def test_errors_are_one_line_and_exit_1(folder: Path, args: tuple[str, ...], message: str) -> None:
    result = ato("export", *args, cwd=folder)
    assert result.returncode == 1 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("ato export: error: ")
    assert message in result.stderr
    written = [path.name for path in folder.iterdir() if not path.name.startswith("experiments.db")]
    assert written == []  # no file, not even a partial one


def test_json_mode_errors_are_the_error_object(folder: Path) -> None:
    result = ato("export", "swep", "--json", cwd=folder)
    error = json.loads(result.stdout)["error"]
    assert result.returncode == 1 and error["type"] == "UnknownProjectError" and error["suggestions"] == ["sweep"]
    both = ato("export", "sweep", "--json", "--format", "csv", cwd=folder)
    error = json.loads(both.stdout)["error"]
    assert both.returncode == 1 and error["message"] == "--json prints the JSON export; drop --json or --format csv"


def test_a_failed_write_keeps_the_previous_file(folder: Path) -> None:
    (folder / "runs.csv").write_text("previous\n")
    result = ato("export", "sweep", "--metric", "nosuch", "-o", "runs.csv", cwd=folder)
    assert result.returncode == 1 and (folder / "runs.csv").read_text() == "previous\n"
    written = ato("export", "sweep", "-o", "runs.csv", cwd=folder)
    assert written.returncode == 0 and (folder / "runs.csv").read_text().startswith("id,uid,project,status,")
    mask = os.umask(0)
    os.umask(mask)
    assert (folder / "runs.csv").stat().st_mode & 0o777 == 0o666 & ~mask  # as open() makes it, not 0600


def _blocked(folder: Path, module: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``ato ARGS`` in a fresh interpreter where ``module`` cannot be imported."""
    script = f"import sys; sys.modules[{module!r}] = None\nfrom ato.cli import main\nsys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", script, *args], cwd=folder, capture_output=True, text=True, timeout=120)


def test_without_the_extra_csv_and_parquet_name_it_and_json_markdown_latex_still_work(folder: Path) -> None:
    for fmt, missing in (("csv", "pandas"), ("parquet", "pandas")):
        result = _blocked(folder, "pandas", "export", "sweep", "--format", fmt, "-o", f"out.{fmt}")
        assert result.returncode == 1 and result.stdout == ""
        assert result.stderr == (f"ato export: error: ato export --format {fmt} needs {missing}, "
                                 "which is not installed: pip install 'ato[export]'\n")
    no_arrow = _blocked(folder, "pyarrow", "export", "sweep", "-o", "out.parquet")
    assert no_arrow.returncode == 1 and no_arrow.stderr == (
        "ato export: error: ato export --format parquet needs pyarrow, which is not installed: pip install 'ato[export]'\n")
    for fmt in ("json", "markdown", "latex"):
        result = _blocked(folder, "pandas", "export", "sweep", "--format", fmt, "--metric", "loss:min")
        assert result.returncode == 0 and result.stderr == "" and "0.25" in result.stdout
    assert not list(folder.glob("*out*"))
