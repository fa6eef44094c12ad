"""The HTML of ``ato report``: one self-contained page, built from plain data.

Self-contained: the styles are inline (one ``<style>``), the curves are inline SVG, there is no
script and nothing that refers to another file or address, so the page opens offline, from a
mail attachment, in any browser. Every recorded text (config values, code, names) is escaped.
"""

from __future__ import annotations

import datetime
import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Comparison", "ReportData", "render"]

_STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 70em;
       color: #222; line-height: 1.4; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 2em; }
h3 { margin-top: 1.5em; }
table { border-collapse: collapse; margin: .5em 0; font-size: .9em; }
th, td { border: 1px solid #ddd; padding: .3em .6em; text-align: left; vertical-align: top; }
th { background: #f5f5f5; }
code, pre { font-family: "SFMono-Regular", Menlo, Consolas, monospace; font-size: .85em; }
pre.diff { background: #fafafa; border: 1px solid #ddd; padding: .6em; overflow-x: auto; }
pre.diff .add { background: #e6ffed; color: #22863a; display: block; }
pre.diff .del { background: #ffeef0; color: #b31d28; display: block; }
pre.diff .hunk { color: #6f42c1; display: block; }
pre.diff .head { color: #555; font-weight: bold; display: block; }
.verdict { background: #fff8e1; border-left: 4px solid #f0b400; padding: .5em 1em; }
.same { color: #2a7; } .note { color: #777; font-style: italic; }
figure { margin: 1em 0; } figure svg { max-width: 100%; height: auto; }
"""


@dataclass
class Comparison:
    """The base run against one other: ``diff`` (``RunDiff.to_json()``), ``code``
    (``CodeChanges.to_json()``) and, per differing key, each run's chain of steps."""

    a: int
    b: int
    diff: dict[str, Any]
    code: dict[str, Any]
    provenance: dict[str, dict[int, list[str]]] = field(default_factory=dict)


@dataclass
class ReportData:
    """What the page shows: the runs (rows of plain values), the comparisons, and the curves."""

    title: str
    runs: list[dict[str, Any]]
    comparisons: list[Comparison]
    figures: list[tuple[str, str]]  # (metric, inline SVG)
    figures_note: str | None = None  # why no curves are shown (e.g. matplotlib is missing)


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]], raw: bool = False) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c if raw else _e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _value(value: Any, present: bool = True) -> str:
    return "<span class='note'>absent</span>" if not present else f"<code>{_e(repr(value))}</code>"


def _diff_block(text: str) -> str:
    lines, in_hunk = [], False
    for line in text.rstrip("\n").split("\n"):
        in_hunk = in_hunk or line.startswith("@@")  # before the first hunk: the two file headers
        kind = ("head" if not in_hunk and line.startswith(("---", "+++")) else "hunk" if line.startswith("@@")
                else "add" if line.startswith("+") else "del" if line.startswith("-") else "")
        lines.append(f"<span class='{kind}'>{_e(line)}</span>" if kind else _e(line) + "\n")
    return "<pre class='diff'>" + "".join(lines) + "</pre>"


def _config_section(c: Comparison) -> str:
    items = c.diff["config"]
    if not items:
        return "<h3>Config</h3><p class='same'>same values</p>"
    rows = [(f"<code>{_e(i['key'])}</code>", _value(i["a"], i["set_by_a"] != "absent"), _e(i["set_by_a"]),
             _value(i["b"], i["set_by_b"] != "absent"), _e(i["set_by_b"])) for i in items]
    out = [f"<h3>Config: {len(items)} key(s) differ</h3>",
           _table(["key", f"run {c.a}", "set by", f"run {c.b}", "set by"], rows, raw=True),
           "<h4>Provenance of the differing keys</h4>"]
    for item in items:
        chains = c.provenance.get(item["key"], {})
        parts = []
        for run_id in (c.a, c.b):
            steps = chains.get(run_id) or ["not set by a recorded merge step"]
            parts.append(f"<p>run {run_id}:</p><ol>" + "".join(f"<li>{_e(s)}</li>" for s in steps) + "</ol>")
        out.append(f"<details open class='provenance'><summary><code>{_e(item['key'])}</code></summary>"
                   f"{''.join(parts)}</details>")
    return "".join(out)


def _code_section(c: Comparison) -> str:
    out = ["<h3>Code</h3>"]
    if not c.diff["code"]:
        out.append("<p class='same'>same fingerprints</p>")
    for item in c.diff["code"]:
        changed = ", ".join(item["changed"]) if item.get("changed") else "recorded in only one run"
        out.append(f"<p><code>{_e(item['trace_id'])}</code> changed ({_e(changed)})</p>")
    for change in c.code.get("functions", []):
        note = f" <span class='note'>{_e(change['note'])}</span>" if change.get("note") else ""
        out.append(f"<h4 class='function'><code>{_e(change['function'])}</code> "
                   f"(in {_e(', '.join(change['trace_ids']))}){note}</h4>")
        if change.get("diff"):
            out.append(_diff_block(change["diff"]))
    patch = c.code.get("patch")
    if patch:
        note = f" <span class='note'>{_e(patch['note'])}</span>" if patch.get("note") else ""
        out.append(f"<h4>Uncommitted changes (git diff HEAD) differ{note}</h4>")
        if patch.get("diff"):
            out.append(_diff_block(patch["diff"]))
    return "".join(out)


def _other_sections(c: Comparison) -> str:
    d, out = c.diff, []
    out.append(f"<h3>Structure</h3><p>{'differs' if d['structure'] else 'same'}</p>")
    if d["runtime"]:
        rows = [(i["trace_id"], "-" if i.get("first_divergent_call") is None else i["first_divergent_call"],
                 f"{i['calls_a']} vs {i['calls_b']}") for i in d["runtime"]]
        out.append("<h3>Runtime outputs</h3>" + _table(["trace", "first divergent call", "calls"], rows))
    if d["numerics"]:
        out.append("<h3>Numerics switches</h3>" + _table(
            ["switch", f"run {c.a}", f"run {c.b}"], [(i["switch"], i["a"], i["b"]) for i in d["numerics"]]))
    if d["environment"]:
        out.append("<h3>Environment</h3>" + _table(
            ["what", f"run {c.a}", f"run {c.b}"], [(i["what"], i["a"], i["b"]) for i in d["environment"]]))
    else:
        out.append("<h3>Environment</h3><p class='same'>same</p>")
    if d["metrics"]:
        metric_rows: list[tuple[Any, str]] = [(m["key"], "identical" if m["first_difference"] is None else
                 f"step {m['first_difference']['step']}: {m['first_difference']['a']} vs {m['first_difference']['b']}")
                for m in d["metrics"]]
        out.append("<h3>Metrics: first difference</h3>" + _table(["metric", "first differs at"], metric_rows))
    return "".join(out)


def render(data: ReportData) -> str:
    """The page, as text."""
    generated = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    runs = _table(["run", "uid", "project", "status", "started", "tags", "host"],
                  [(r["id"], r["uid"][:12], r["project"], r["status"], r["started"], ", ".join(r["tags"]), r["host"])
                   for r in data.runs])
    body = [f"<h1>{_e(data.title)}</h1>", f"<p class='note'>Made by ato report, {generated}.</p>",
            "<h2>Runs</h2>", runs]
    for c in data.comparisons:
        body.append(f"<section class='comparison'><h2>Run {c.a} vs run {c.b}</h2>"
                    f"<p class='verdict'>{_e(c.diff['verdict'])}</p>"
                    f"{_config_section(c)}{_code_section(c)}{_other_sections(c)}</section>")
    body.append("<h2>Curves</h2>")
    if data.figures_note:
        body.append(f"<p class='note'>{_e(data.figures_note)}</p>")
    elif not data.figures:
        body.append("<p class='note'>no metric was logged</p>")
    for metric, svg in data.figures:
        body.append(f"<figure class='curve'><figcaption><code>{_e(metric)}</code></figcaption>{svg}</figure>")
    return (f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{_e(data.title)}</title><style>{_STYLE}</style></head>"
            f"<body>{''.join(body)}</body></html>\n")
