"""``ato plot`` and ``ato diff --plot``: curves in the terminal or in a file, read downsampled, and
the first step where two runs' metric differs marked."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import jsonschema
import numpy as np

from ato.cli.charts import Curve, Panel, render_terminal
from ato.config.adict import ADict
from ato.tracking.logger import SQLLogger
from tests.conftest import ROOT, ato


def _log(config: ADict, values: list[float], key: str = "loss") -> int:
    with SQLLogger(config) as logger:
        run_id = logger.run()
        for step, value in enumerate(values):
            logger.log_metric(key, value, step)
    return run_id


def _two_runs(config: ADict, diverge_at: int = 30, points: int = 100) -> None:
    base = [1.0 / (1 + step) for step in range(points)]
    _log(config, base)
    _log(config, base[:diverge_at] + [value + 0.5 for value in base[diverge_at:]])


def test_terminal_plot_draws_each_run_with_a_legend(config: ADict, tmp_path: Path) -> None:
    _two_runs(config)
    result = ato("plot", "1", "2", "--metric", "loss", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert any(0x2800 < ord(char) <= 0x28FF for char in result.stdout)  # braille dots drawn
    assert "run 1" in result.stdout and "run 2" in result.stdout
    rows = [line.split("┤")[0].strip() for line in result.stdout.splitlines() if "┤" in line]
    assert rows[0] == "1" and rows[-1] == "0.01"  # the value range: 1/(1 + step) over 100 steps
    assert "\x1b[" not in result.stdout  # no colour codes when piped


def test_plot_reads_downsampled_points(config: ADict, tmp_path: Path) -> None:
    _log(config, [math.sin(step / 50) for step in range(10_000)])
    data = json.loads(ato("plot", "1", "--metric", "loss", "--points", "60", "--json", cwd=tmp_path).stdout)
    (curve,) = data["curves"]
    assert curve["total"] == 10_000 and 2 < len(curve["steps"]) <= 60
    assert curve["steps"][0] == 0 and curve["steps"][-1] == 9_999  # the ends are kept
    assert max(curve["values"]) == max(math.sin(step / 50) for step in range(10_000))  # and the extremes
    jsonschema.validate(data, json.loads(ato("schema", "plot", cwd=tmp_path).stdout))
    text = ato("plot", "1", "--metric", "loss", "--points", "60", cwd=tmp_path).stdout
    assert f"({len(curve['steps'])} of 10000 points)" in text


def test_plot_to_png_svg_and_self_contained_html(config: ADict, tmp_path: Path) -> None:
    _two_runs(config)
    for name in ("loss.png", "loss.svg", "loss.html"):
        result = ato("plot", "1", "2", "--metric", "loss", "--out", name, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert f"wrote {name}" in result.stdout
    assert (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = (tmp_path / "loss.svg").read_text()
    assert "<svg" in svg and "run 2" in svg  # the legend, as text
    page = (tmp_path / "loss.html").read_text()
    assert "<svg" in page and "<script" not in page and "src=" not in page and "<link" not in page


def test_an_unknown_metric_or_file_type_is_one_clear_line(config: ADict, tmp_path: Path) -> None:
    _two_runs(config)
    result = ato("plot", "1", "2", "--metric", "los", cwd=tmp_path)
    assert result.returncode == 1 and "did you mean 'loss'" in result.stderr
    result = ato("plot", "1", "--metric", "loss", "--out", "loss.pdf", cwd=tmp_path)
    assert result.returncode == 1 and ".png, .svg, .html" in result.stderr
    assert not (tmp_path / "loss.pdf").exists()


def test_without_matplotlib_the_message_names_the_extra(config: ADict, tmp_path: Path) -> None:
    _two_runs(config)
    code = ("import sys; sys.modules['matplotlib'] = None\n"  # as if it were not installed
            "from ato.cli import main; sys.exit(main(sys.argv[1:]))")
    result = subprocess.run([sys.executable, "-c", code, "plot", "1", "--metric", "loss", "--out", "x.png"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 1
    assert result.stderr.strip() == "ato plot: error: plotting to a file needs matplotlib: pip install 'ato[plot]'"
    terminal = subprocess.run([sys.executable, "-c", code, "plot", "1", "--metric", "loss"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120,
                              env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert terminal.returncode == 0 and "run 1" in terminal.stdout  # the terminal plot needs no extra


def test_diff_plot_marks_the_first_step_where_the_runs_differ(config: ADict, tmp_path: Path) -> None:
    _two_runs(config, diverge_at=30)
    result = ato("diff", "1", "2", "--plot", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "runs first differ at step 30" in result.stdout
    assert "┊" in result.stdout
    result = ato("diff", "1", "2", "--plot", "--out", "diff.svg", cwd=tmp_path)
    assert "plot: wrote diff.svg" in result.stdout
    assert "runs first differ at step 30" in (tmp_path / "diff.svg").read_text()
    data = json.loads(ato("diff", "1", "2", "--plot", "--out", "d.png", "--json", cwd=tmp_path).stdout)
    assert data["metrics"][0]["first_difference"]["step"] == 30 and (tmp_path / "d.png").exists()
    unknown = ato("diff", "1", "2", "--plot", "--metric", "acc", cwd=tmp_path)
    assert unknown.returncode == 1 and "no metric 'acc'" in unknown.stderr


def test_diff_plot_of_identical_runs_says_so(config: ADict, tmp_path: Path) -> None:
    _log(config, [1.0, 2.0, 3.0])
    _log(config, [1.0, 2.0, 3.0])
    result = ato("diff", "1", "2", "--plot", cwd=tmp_path)
    assert "loss (identical)" in result.stdout and "first differ" not in result.stdout


def test_the_marker_stands_at_its_step_and_gaps_replace_non_finite_values() -> None:
    steps = np.arange(101)
    values = np.where(steps == 70, np.nan, steps / 100.0)
    text = render_terminal(Panel("m", [Curve("a", steps, values)], [(50, "here")]), width=40, height=6, color=False)
    rows = [line for line in text.splitlines() if "┤" in line]
    columns = {line.index("┊") - line.index("┤") - 1 for line in rows if "┊" in line}
    assert columns and all(abs(column - 20) <= 1 for column in columns)  # step 50 of 0..100 is mid-chart
    assert "nan" not in text.lower()
    coloured = render_terminal(Panel("m", [Curve("a", steps, values)]), width=40, height=6, color=True)
    assert "\x1b[34m" in coloured
    empty = render_terminal(Panel("m", [Curve("a", steps, np.full(101, np.nan))]), width=40, color=False)
    assert "no finite values" in empty


def test_a_dollar_sign_in_a_key_is_drawn_as_written(config: ADict, tmp_path: Path) -> None:
    """matplotlib reads ``$...$`` as mathtext: a key is text, never markup (``a$\\frac$b``
    would not even parse)."""
    _log(config, [1.0, 2.0, 3.0], key="a$\\frac$b")
    result = ato("plot", "1", "--metric", "a$\\frac$b", "--out", "k.svg", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "a$\\frac$b" in (tmp_path / "k.svg").read_text()  # the title, as the key was written
