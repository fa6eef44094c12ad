"""Runs, configs, diffs, merge replays and metric series as notebooks (``_repr_html_``) and rich
consoles (``__rich__``) show them: tables that parse, with the expected cells, every user string
escaped, bounded in size, never wider than the console; and short plain reprs."""

from __future__ import annotations

import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rich.console import Console

from ato import ADict, SQLFinder, SQLLogger
from ato.projections.series import MetricSeries, downsample
from ato.tracking.diff import diff_runs
from ato.tracking.replay import KeyChain, MergeReplay, ScopeReplay, replay_merges
from tests.conftest import run_script

HOSTILE = "<script>alert('x')</script>"
MARKUP = "[bold red]loud[/] [/nothing]"  # rich markup, and a closing tag rich would refuse as markup
TAGS = {"div", "style", "table", "thead", "tbody", "tr", "th", "td", "caption", "p", "br"}


class _Page(HTMLParser):
    """The tables of an HTML fragment: every row's cell texts (a ``<br>`` read as a newline), the
    tags used, and whether every tag that was opened was closed, in order."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self.captions: list[str] = []
        self.tags: set[str] = set()
        self.open: list[str] = []
        self.cell: list[str] | None = None
        self.caption: list[str] | None = None
        self.text: list[str] = []
        self.feed(html)
        self.close()
        assert self.open == [], f"tags left open: {self.open}"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        assert all(not name.startswith("on") for name, _ in attrs), attrs  # no event handler attributes
        if tag == "br":
            if self.cell is not None:
                self.cell.append("\n")
            return
        self.open.append(tag)
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.cell = []
        elif tag == "caption":
            self.caption = []

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, f"</{tag}> closes {self.open[-1:]}"
        self.open.pop()
        if tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append("".join(self.cell))
            self.cell = None
        elif tag == "caption" and self.caption is not None:
            self.captions.append("".join(self.caption))
            self.caption = None

    def handle_data(self, data: str) -> None:
        if self.open and self.open[-1] == "style":
            return
        self.text.append(data)
        for part in (self.cell, self.caption):
            if part is not None:
                part.append(data)

    def row(self, first: str) -> list[str]:
        """The row whose first cell is ``first``."""
        found = [row for row in self.rows if row and row[0] == first]
        assert found, f"no row {first!r} in {self.rows[:40]}"
        return found[0]


def _page(obj: Any) -> _Page:
    html = obj._repr_html_()
    page = _Page(html)
    assert page.tags <= TAGS, page.tags - TAGS  # nothing that runs, loads or links
    assert "<script" not in html.lower() and "http" not in html  # escaped; nothing to fetch
    return page


def _console(*objects: Any) -> str:
    """What a rich console 80 columns wide prints for ``objects``; no line is wider."""
    console = Console(record=True, width=80, color_system=None)
    for obj in objects:
        console.print(obj)
    text = console.export_text()
    assert max(map(len, text.splitlines())) <= 80
    return text


def _config(db: Path, project: str = "proj", **values: Any) -> ADict:
    return ADict(experiment={"project_name": project, "sql": {"db_path": f"sqlite:///{db}"}}, **values)


def _log(config: ADict, tags: list[str], points: int = 3) -> int:
    with SQLLogger(config) as logger:
        run_id = logger.run(tags=tags)
        for step in range(points):
            logger.log_metric("loss", 1.0 / (step + 1), step)
    return run_id


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "experiments.db"


# -- Run ------------------------------------------------------------------------------------------------
def test_a_run_shows_its_fields_config_and_metrics_without_reading_points(db: Path) -> None:
    run_id = _log(_config(db, lr=0.1, model={"depth": 50, "widths": [64, 128]}), ["baseline", "seed1"])
    with SQLFinder(db) as finder:
        run = finder.find_run(run_id)
    page = _page(run)
    assert page.row("uid") == ["uid", run.uid]
    assert page.row("status") == ["status", "completed"]
    assert page.row("project") == ["project", f"proj (id {run.project_id})"]
    assert page.row("tags") == ["tags", "baseline, seed1"]
    assert page.row("structural hash") == ["structural hash", run.structural_hash]
    assert page.row("duration")[1].endswith(" s")
    assert page.row("lr") == ["lr", "0.1"]
    assert page.row("model") == ["model", "(2 keys)"]
    assert page.row("depth") == ["depth", "50"] and page.row("widths") == ["widths", "[64, 128]"]
    assert page.row("loss") == ["loss", "3", "0.333333 @ 2", "0.333333", "1"]
    assert {"Config", "Metrics"} <= set(page.captions)
    text = _console(run)
    assert "0.333333 @ 2" in text and run.uid in text and "widths" in text
    assert not run.metrics.loaded and not run.artifacts.loaded  # showing a run reads none of its records


def test_the_plain_repr_of_a_run_is_one_short_line(db: Path) -> None:
    config = _config(db, "p" * 500, **{f"key{i}": "v" * 200 for i in range(2_000)})
    with SQLLogger(config) as logger:
        run_id = logger.run(tags=[f"tag{i}" * 20 for i in range(100)])
        for i in range(200):
            logger.log_metric(f"metric{i}", float(i), 0)
    with SQLFinder(db) as finder:
        run = finder.find_run(run_id)
    shown = repr(run)
    assert "\n" not in shown and len(shown) < 1_000
    assert shown.startswith(f"Run(id={run_id}, uid='{run.uid}'")
    assert "config=<2,001 keys>" in shown and "... 197 more" in shown and "96 more tags" in shown
    assert "MetricSummary(count=1, last_step=0, last=0.0, min=0.0, max=0.0)" in shown  # numbers still compare
    assert "not read yet" in shown
    list(run.metrics)
    assert "200 metric points, read" in repr(run)


# -- ADict ----------------------------------------------------------------------------------------------
def test_an_adict_is_a_nested_table_and_keeps_a_dicts_repr() -> None:
    config = ADict(lr=0.001, model=ADict(backbone="resnet50", heads=[{"n": 1}, {"n": 2}]), empty={})
    assert repr(config) == str(config) == repr(config.to_dict())  # 2.1.7's repr and str
    page = _page(config)
    assert page.row("keys")[1] == "3"
    assert page.row("structural hash")[1] == config.get_structural_hash()
    assert page.row("lr") == ["lr", "0.001"]
    assert page.row("model") == ["model", "(2 keys)"]
    assert page.row("backbone") == ["backbone", "'resnet50'"]  # a repr: '1' and 1 look different
    assert page.row("heads") == ["heads", "[{'n': 1}, {'n': 2}]"]
    assert page.row("empty") == ["empty", "{}"]
    nested = [row[0] for row in page.rows if row and row[0] in ("lr", "model", "backbone", "heads", "empty")]
    assert nested == ["lr", "model", "backbone", "heads", "empty"]  # a mapping's keys follow it, in order
    assert "(frozen)" in _page(config.freeze()).row("keys")[1]
    text = _console(config)
    assert "    backbone" in text.replace("│", " ")  # indented under model


def test_a_5000_key_config_is_shown_bounded_with_a_count_of_what_was_left_out(db: Path) -> None:
    config = ADict({f"key{i:04d}": "x" * 300 for i in range(5_000)})
    config["huge"] = list(range(1_000_000))  # never turned into text whole
    html = config._repr_html_()
    assert len(html) < 100_000
    page = _Page(html)
    assert page.row("key0000")[1].startswith("'xxx") and len(page.row("key0000")[1]) < 200
    assert not [row for row in page.rows if row and row[0] == "key4999"]
    assert page.rows[-1] == ["… 4,801 more keys not shown"]
    text = _console(config)
    assert "4,801 more keys not shown" in text and len(text.splitlines()) < 1_000
    assert _page(ADict(huge=list(range(1_000_000)))).row("huge")[1].startswith("[0, 1, 2, 3, 4, 5, 6, 7, ...]")

    run_id = _log(_config(db, **{f"k{i}": i for i in range(5_000)}), [])
    with SQLFinder(db) as finder:
        run = finder.find_run(run_id)
    html = run._repr_html_()
    assert len(html) < 20_000 and "4,964 more keys not shown" in html  # a run's own config table is compact


def test_a_config_that_contains_itself_or_nests_deep_is_shown_not_followed() -> None:
    looped: dict[str, Any] = {"a": 1}
    looped["me"] = looped
    deep: dict[str, Any] = {}
    level = deep
    for _ in range(5_000):  # deeper than Python's recursion limit
        level["down"] = {}
        level = level["down"]
    config = ADict(deep=1)
    dict.__setitem__(config, "looped", looped)  # as stored: ADict would copy it on assignment
    dict.__setitem__(config, "deep", deep)
    page = _page(config)
    assert page.row("me")[1].startswith("{'a': 1, 'me': ")
    assert page.row("structural hash")[1] == "(not computed: RecursionError)"
    assert len(page.rows) < 40
    _console(config)


# -- hostile strings ------------------------------------------------------------------------------------
def test_hostile_strings_are_escaped_in_html_and_shown_as_typed_in_rich(db: Path) -> None:
    config = _config(db, HOSTILE, note=HOSTILE, markup=MARKUP, **{"<img src=x onerror=alert(1)>": 1})
    config["bell"] = "\x1b[31mred\x07"
    run_id = _log(config, [HOSTILE, MARKUP])
    other = _log(_config(db, HOSTILE, note="calm", markup=MARKUP, **{"<img src=x onerror=alert(1)>": 1}), ["t"])
    with SQLFinder(db) as finder:
        run = finder.find_run(run_id)
        diff = diff_runs(finder, run_id, other)
        project = finder.find_project(HOSTILE)
    for obj in (run, run.config, diff, project):
        assert HOSTILE in "".join(_page(obj).text)  # escaped in the source, read back as typed
    page = _page(run)
    assert page.row("tags")[1] == f"{HOSTILE}, {MARKUP}"
    assert page.row("note")[1] == repr(HOSTILE)
    assert page.row("<img src=x onerror=alert(1)>")[1] == "1"
    assert page.row("bell")[1] == repr("\x1b[31mred\x07")  # the escapes, not the characters
    assert _page(diff).row("note")[1].startswith(repr(HOSTILE))
    text = _console(run, run.config, diff, project)
    assert MARKUP in text and "[bold red]loud[/]" in text  # never read as markup
    assert "\x1b" not in text and "\x07" not in text


# -- RunDiff --------------------------------------------------------------------------------------------
def test_a_diff_shows_a_line_per_section_and_a_table_per_difference(db: Path) -> None:
    a = _log(_config(db, lr=0.1, model={"depth": 50}), ["a"])
    b = _log(_config(db, lr=0.2, model={"depth": 50}, extra=True), ["b"], points=4)
    with SQLFinder(db) as finder:
        diff = diff_runs(finder, a, b)
    page = _page(diff)
    assert page.row("config") == ["config", "2 differing keys"]
    assert page.row("structure")[1].startswith("differs (")
    assert page.row("code") == ["code", "same fingerprints"]
    assert page.row("metrics") == ["metrics", "shared 1, differing 1"]
    assert page.row("lr") == ["lr", "0.1\nnot set by a scope", "0.2\nnot set by a scope"]
    assert page.row("extra") == ["extra", "absent", "True\nnot set by a scope"]
    assert page.row("loss") == ["loss", "step 3: None vs 0.25"]
    assert set(page.captions) == {"Config", "Metrics"}  # sections with no difference are their line only
    assert diff.verdict in "".join(page.text)
    text = _console(diff)
    assert "Why do runs 1 and 2 differ?" in text and "2 differing keys" in text
    shown = repr(diff)
    assert shown == "RunDiff(a=1, b=2, config=2, code=0, runtime=0, numerics=0, environment=0, structure=differs, " \
                    "metrics=1 of 1 differ)"


def test_a_diff_of_5000_keys_is_bounded(db: Path) -> None:
    a = _log(_config(db, **{f"k{i}": i for i in range(5_000)}), [])
    b = _log(_config(db, **{f"k{i}": -i - 1 for i in range(5_000)}), [])
    with SQLFinder(db) as finder:
        diff = diff_runs(finder, a, b)
    html = diff._repr_html_()
    assert len(html) < 40_000 and "4,900 more keys not shown" in html
    assert len(repr(diff)) < 200
    assert "4,900 more keys not shown" in _console(diff)


# -- merge replay ---------------------------------------------------------------------------------------
SCRIPT = """
from ato.scope import Scope
from ato.db_routers.sql.manager import SQLLogger

scope = Scope()

@scope.observe(default=True)
def defaults(config):
    config.lr = 0.1
    config.model = {'name': 'small'}
    config.experiment = {'project_name': 'proj', 'sql': {'db_path': 'sqlite:///experiments.db'}}

for i, lr in enumerate([0.2, 0.3, 0.4, 0.5], 1):  # views v1..v4, each setting lr once more
    scope.observe({'lr': lr}, name=f'v{i}')

@scope
def train(config):
    with SQLLogger(config) as logger:
        logger.run(tags=['t'])
        logger.log_metric('loss', 1.0, 0)

train()
"""


def test_a_merge_replay_shows_the_order_and_each_keys_chain(tmp_path: Path) -> None:
    run_script(tmp_path, SCRIPT, "v1", "v2", "v3", "v4", f"model.name={HOSTILE!r}")
    with SQLFinder(tmp_path / "experiments.db") as finder:
        report = replay_merges(finder, 1)
    (scope,) = report.scopes
    page = _page(report)
    assert page.row("replay") == ["replay", "exact"]
    assert ["1", "defaults", "default", "0", ""] in page.rows
    assert ["5", "v4", "named", "0", ""] in page.rows
    assert page.row("6")[1:3] == [f"model.name={HOSTILE!r}", "cli"]
    lr = page.row("lr")
    assert lr[1] == "0.5"
    assert lr[2].splitlines() == [
        "… 1 earlier step", "v1 (named): 0.1 -> 0.2", "v2 (named): 0.2 -> 0.3", "v3 (named): 0.3 -> 0.4",
        "v4 (named): 0.4 -> 0.5",
    ]
    assert page.row("model.name")[1] == repr(HOSTILE)
    assert {"Applying order", "Final keys"} <= set(page.captions)
    assert _page(scope).row("lr") == lr
    text = _console(report, scope)
    assert "v4 (named): 0.4 -> 0.5" in text and "Applying order" in text
    assert repr(report) == "MergeReplay(run=1, scopes=1, exact=True)"
    assert repr(scope) == "ScopeReplay(scope='config', steps=6, keys=4, exact=True)"


def test_a_scope_replay_of_many_keys_and_problems_is_bounded(db: Path) -> None:
    run_id = _log(_config(db), [])
    with SQLFinder(db) as finder:
        run = finder.find_run(run_id)
    keys = [KeyChain(f"k{i}", "v" * 1_000, [{"step": "cli", "kind": "cli", "old": None, "new": i, "added": True}])
            for i in range(5_000)]
    scope = ScopeReplay("main", ["x" * 5_000], [], keys, False, ["lr: 0.1 != 0.2"], ["model.fn"])
    page = _page(MergeReplay(run, [scope]))
    assert page.row("replay") == ["replay", "NOT exact"]
    assert page.row("k0")[2] == "cli (cli): set 0"
    assert ["… 4,800 more keys not shown"] in page.rows
    assert ["lr: 0.1 != 0.2"] in page.rows and ["not replayable: model.fn"] in page.rows
    assert len(scope._repr_html_()) < 100_000
    _console(scope)


# -- metric series, summary, project --------------------------------------------------------------------
def test_a_metric_series_shows_a_summary_and_its_ends_never_all_points(db: Path) -> None:
    values = np.linspace(1.0, 0.001, 1_000)
    values[10], values[20] = np.nan, np.inf
    series = MetricSeries(7, "val/loss", np.arange(1_000, dtype=np.int64), values, np.full(1_000, 1.7e9))
    page = _page(series)
    assert page.row("points") == ["points", "1,000"]
    assert page.row("steps") == ["steps", "0 … 999"]
    assert page.row("last") == ["last", "0.001 at step 999"]
    assert page.row("min") == ["min", "0.001"] and page.row("max") == ["max", "1"]
    assert page.row("not finite") == ["not finite", "1 NaN, 1 infinite"]
    assert page.row("…") == ["…", "994 points between", ""]
    assert page.row("999") == ["999", "0.001", "2023-11-14 22:13:20 UTC"]
    assert len(page.rows) < 20
    assert _page(downsample(series, 100)).row("points")[1].endswith("(downsampled from 1,000)")
    text = _console(series)
    assert "Metric val/loss of run 7" in text and "994 points between" in text
    empty = MetricSeries(1, "x", np.empty(0, np.int64), np.empty(0), np.empty(0))
    assert _page(empty).row("points") == ["points", "0"]
    _console(empty)

    run_id = _log(_config(db), [], points=30)
    with SQLFinder(db) as finder:
        read = finder.get_metrics(run_id, "loss")
        summary = finder.find_run(run_id).metric_summaries["loss"]
        project = finder.find_project("proj")
    assert _page(read).row("points") == ["points", "30"]
    assert _page(summary).row("last") == ["last", "0.0333333 at step 29"]
    assert _page(summary).row("max") == ["max", "1"]
    assert project is not None
    assert _page(project).row("id") == ["id", str(project.id)]
    assert "Project proj" in _console(read, summary, project)


# -- import cost ----------------------------------------------------------------------------------------
def test_rich_is_imported_only_when_a_rich_view_is_asked_for() -> None:
    code = (
        "import sys, json; from ato import ADict; c = ADict(a=1, b={'c': 2}); html = c._repr_html_(); "
        "before = 'rich' in sys.modules; c.__rich__(); print(json.dumps([before, 'rich' in sys.modules]))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(result.stdout) == [False, True]
