"""``ato export PROJECT``: a project's runs table (or its metric points) as a file.

The runs table is :func:`ato.tracking.frames.runs_table` (one row per run: id, uid, status,
times, tags, host, the flattened config, and ``KEY:last/min/max[/best]`` per ``--metric``), the
same as ``SQLFinder.runs_frame``. Choices:

- ``--format`` csv, json, parquet, markdown or latex; without it, the suffix of ``-o FILE``
  (``.csv``, ``.json``, ``.parquet``, ``.md``, ``.tex``), else csv. Text goes to stdout, or to
  ``-o FILE`` (written whole or not at all); parquet, being binary, needs ``-o`` or a redirected
  stdout. ``--json`` is ``--format json``: the JSON export is the command's ``--json`` output
  (``ato schema export``), an array of row objects, NaN and infinities as ``"NaN"``,
  ``"Infinity"``, ``"-Infinity"``, a missing value as null, times as ISO 8601 UTC text.
- csv and parquet are written by pandas (the ``ato[export]`` extra; parquet through pyarrow); a
  list or object in the config is its JSON text there. json, markdown and latex need no extra.
- ``--columns COL[=LABEL] ...`` keeps those columns, in that order, renamed where a label is
  given (``--columns model.depth=Depth val/acc:best=Accuracy``): a paper table in one command.
  ``--sort COL [--descending]`` orders the rows (missing and NaN values last);
  ``--status completed`` keeps runs of those statuses; ``--digits N`` is the significant digits of
  markdown and latex numbers.
- ``--points``: the long-form metric points instead (``run, key, step, value, timestamp``) of the
  ``--metric`` keys (default: every key), in csv, json or parquet.
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ato.errors import AtoError

if TYPE_CHECKING:
    from ato.tracking.frames import Table

__all__ = ["ExportError", "register"]

FORMATS = ("csv", "json", "parquet", "markdown", "latex")
_SUFFIXES = {".csv": "csv", ".json": "json", ".parquet": "parquet", ".pq": "parquet", ".md": "markdown",
             ".markdown": "markdown", ".tex": "latex"}
_POINT_FORMATS = ("csv", "json", "parquet")


class ExportError(AtoError, ValueError):
    """An export that cannot be written as asked (options that do not go together, binary output
    on a terminal)."""


def register(command: Callable[[str, str, str], argparse.ArgumentParser]) -> None:
    parser = command(
        "export", "Export a project's runs table (or metric points) as csv, json, parquet, markdown or latex.",
        "ato export sweep -o runs.csv --metric val/acc:max loss:min\n"
        "  ato export sweep --format latex --metric val/acc:max --columns model.depth=Depth val/acc:best=Acc\n"
        "  ato export sweep --points --metric loss -o points.parquet",
    )
    parser.add_argument("project", help="the project whose runs are exported")
    parser.add_argument("--format", choices=FORMATS, help="default: from the -o suffix, else csv")
    parser.add_argument("--metric", nargs="+", action="extend", metavar="KEY[:max|:min]",
                        help="metric columns KEY:last/min/max (and KEY:best with a direction); default: every key")
    parser.add_argument("--columns", nargs="+", action="extend", metavar="COL[=LABEL]",
                        help="keep these columns, in this order, renamed to LABEL where given")
    parser.add_argument("--sort", metavar="COL", help="order the rows by this column (missing and NaN last)")
    parser.add_argument("--descending", action="store_true", help="with --sort: largest first")
    parser.add_argument("--status", nargs="+", action="extend", help="only runs of these statuses (completed, ...)")
    parser.add_argument("--digits", type=int, default=4, help="significant digits in markdown and latex (default 4)")
    parser.add_argument("--points", action="store_true",
                        help="the metric points (run, key, step, value, timestamp) instead of the runs; csv/json/parquet")
    parser.add_argument("-o", "--output", metavar="FILE", help="write here (default: stdout)")
    parser.set_defaults(handler=handle)


def _format(args: argparse.Namespace) -> str:
    if args.json:
        if args.format not in (None, "json"):
            raise ExportError(f"--json prints the JSON export; drop --json or --format {args.format}")
        return "json"
    if args.format:
        return str(args.format)
    suffix = Path(args.output).suffix.lower() if args.output else ""
    return _SUFFIXES.get(suffix, "csv")


def handle(args: argparse.Namespace, path: Path) -> int:
    from ato.tracking import frames
    from ato.tracking.finder import SQLFinder

    fmt = _format(args)
    if args.digits < 1:
        raise ExportError(f"--digits must be at least 1, not {args.digits}")
    if args.points and fmt not in _POINT_FORMATS:
        raise ExportError(f"--points writes csv, json or parquet, not {fmt} (a table of every point is no paper table)")
    if args.points and (args.columns or args.sort):
        raise ExportError("--columns and --sort shape the runs table; --points has the fixed columns run, key, step, value, timestamp")
    if fmt in ("csv", "parquet"):
        frames.pandas_module(f"ato export --format {fmt}")  # before any database work
    if fmt == "parquet":
        _require_pyarrow()
        if args.output is None and (sys.stdout.isatty() or not hasattr(sys.stdout, "buffer")):
            raise ExportError("parquet is binary: write it to a file with -o FILE.parquet (or redirect stdout)")
    specs = frames.metric_specs(args.metric)
    where = f"in project {args.project!r}"
    with SQLFinder(path) as finder:
        finder.get_project(args.project)  # an unknown project is an error, never an empty file
        runs = finder.get_runs_in_project(args.project)
        if args.status:
            runs = [run for run in runs if run.status in args.status]
        if args.points:
            series = _points(finder, runs, specs, where)
    if args.points:
        if fmt == "json":
            rows = [{**row, "timestamp": _iso(row["timestamp"])} for row in frames.points_rows(series)]
            return _write_json(args, rows, f"{len(rows)} points")
        keys = [key for key, _ in specs] if specs else None
        return _write_frame(args, fmt, frames.points_frame(series, keys), f"{sum(map(len, series))} points")
    table = frames.runs_table(runs, specs, where)
    if args.sort:
        table = _sorted(table, args.sort, args.descending, where)
    if args.columns:
        table = _selected(table, args.columns, where)
    what = f"{table.rows} run{'' if table.rows == 1 else 's'}, {len(table.columns)} columns"
    if fmt == "json":
        return _write_json(args, [_json_row(table, record) for record in table.records()], what)
    if fmt in ("markdown", "latex"):
        from ato.cli import export_formats

        render = export_formats.markdown if fmt == "markdown" else export_formats.latex
        return _write_text(args, render(table, args.digits), what)
    return _write_frame(args, fmt, frames.frame(frames.for_files(table)), what)


def _require_pyarrow() -> None:
    from ato.tracking.frames import MissingExtraError

    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise MissingExtraError("pyarrow", "ato export --format parquet") from None


def _points(finder: Any, runs: list[Any], specs: list[tuple[str, str | None]] | None, where: str) -> list[Any]:
    """Every (run, key) series, run-major; a requested key that none of the runs logged raises."""
    from ato.errors import UnknownMetricError

    logged = sorted({key for run in runs for key in run.metric_summaries})
    keys = list(dict.fromkeys(key for key, _ in specs)) if specs else logged
    for key in keys:
        if logged and key not in logged:
            raise UnknownMetricError(key, logged, where)
    ids = [run.id for run in runs]
    by_key = {key: finder.get_metrics_of_runs(ids, key) for key in keys if key in logged} if ids else {}
    return [by_key[key][run_id] for run_id in ids for key in by_key]


def _sorted(table: Table, column: str, descending: bool, where: str) -> Table:
    from ato.tracking.frames import Table, UnknownColumnError

    if column not in table.columns:
        raise UnknownColumnError(column, table.columns, f"to sort by {where}")
    values = table.columns[column]

    def missing(value: Any) -> bool:
        return value is None or (isinstance(value, float) and math.isnan(value))

    def key(index: int) -> tuple[int, Any]:
        value = values[index]  # numbers before text, so a mixed column still sorts
        return (0, value) if isinstance(value, (int, float)) else (1, str(value))

    present = sorted((i for i, value in enumerate(values) if not missing(value)), key=key, reverse=descending)
    order = present + [i for i, value in enumerate(values) if missing(value)]
    return Table({name: [column_values[i] for i in order] for name, column_values in table.columns.items()},
                 set(table.times), set(table.floats))


def _selected(table: Table, specs: list[str], where: str) -> Table:
    """The columns ``COL`` or ``COL=LABEL`` of ``table``, in that order (a name that is itself a
    column, ``=`` and all, is taken as it is)."""
    from ato.tracking.frames import Table, UnknownColumnError

    columns: dict[str, list[Any]] = {}
    times, floats = set(), set()
    for spec in specs:
        name, label = (spec, spec) if spec in table.columns else _split_label(spec)
        if name not in table.columns:
            raise UnknownColumnError(name, table.columns, f"in the export {where} (metric columns need --metric KEY)")
        if label in columns:
            raise ExportError(f"two columns would be called {label!r}; give one another label (COL=LABEL)")
        columns[label] = table.columns[name]
        if name in table.times:
            times.add(label)
        if name in table.floats:
            floats.add(label)
    return Table(columns, times, floats)


def _split_label(spec: str) -> tuple[str, str]:
    name, sep, label = spec.rpartition("=")
    return (name, label) if sep and name and label else (spec, spec)


def _iso(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).isoformat()


def _json_row(table: Table, record: dict[str, Any]) -> dict[str, Any]:
    return {name: _iso(value) if name in table.times and value is not None else value
            for name, value in record.items()}


def _write_json(args: argparse.Namespace, rows: list[dict[str, Any]], what: str) -> int:
    from ato.cli.outputs import encode

    data = encode("export", rows) + b"\n"
    if args.output is None:
        sys.stdout.write(data.decode())
        return 0
    return _write_file(args.output, lambda target: Path(target).write_bytes(data), what)


def _write_text(args: argparse.Namespace, text: str, what: str) -> int:
    if args.output is None:
        sys.stdout.write(text)
        return 0
    return _write_file(args.output, lambda target: Path(target).write_text(text, encoding="utf-8"), what)


def _write_frame(args: argparse.Namespace, fmt: str, frame: Any, what: str) -> int:
    if fmt == "csv":
        return _write_text(args, frame.to_csv(index=False), what)
    if args.output is None:  # parquet into a redirected stdout
        import io

        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        sys.stdout.flush()
        sys.stdout.buffer.write(buffer.getvalue())
        return 0
    return _write_file(args.output, lambda target: frame.to_parquet(target, index=False), what)


def _write_file(output: str, write: Callable[[str], Any], what: str) -> int:
    """Write through a temporary file beside ``output``, renamed over it once complete: an export
    that fails half-way leaves no half-written file (nor spoils an earlier one)."""
    target = Path(output)
    try:
        descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    except OSError as exc:
        raise ExportError(f"cannot write {target}: {exc.strerror or exc}") from None
    os.close(descriptor)
    mask = os.umask(0)
    os.umask(mask)
    try:
        os.chmod(temporary, 0o666 & ~mask)  # as a plain open() would make it, not mkstemp's 0600
        write(temporary)
        os.replace(temporary, target)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise ExportError(f"cannot write {target}: {exc.strerror or exc}") from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    print(f"ato export: {what} written to {target}", file=sys.stderr)
    return 0
