"""What every ``ato`` command prints with ``--json``, defined once as msgspec structs.

Each command's output is converted into its struct before it is printed (:func:`encode`), so what
a script reads is exactly what ``ato schema COMMAND`` publishes (the JSON Schema msgspec makes of
these structs): no field more or less, native values, never reprs. Values follow
:mod:`ato.cli.json_values`: NaN and infinities are the strings ``"NaN"``, ``"Infinity"``,
``"-Infinity"``; a config value is native JSON.

An error in JSON mode is :class:`ErrorOutput` on stdout (``{"error": {"command", "type",
"message", "suggestions"}}``) with a non-zero exit status; ``ato schema error`` publishes it. A
non-zero status alone is not an error: ``ato replay`` of a run that does not replay exactly and
``ato verify`` of a damaged file print their usual output and exit 1.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import Meta

from ato.cli.json_values import Number as _Number
from ato.cli.json_values import json_value

__all__ = ["OUTPUTS", "SCHEMAS", "ErrorOutput", "encode", "json_schema"]

Number = Annotated[_Number, Meta(description='a float; NaN and infinities as "NaN", "Infinity", "-Infinity"')]
Value = Annotated[Any, Meta(description=(
    'a config value as native JSON: tuples and sets as arrays, dict keys as text, floats as Number, '
    'a value that could not be recorded as {"$type": ..., "$repr": ...}'))]
Seconds = Annotated[float, Meta(description="Unix time, in seconds")]


class Output(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Base of the outputs: every field always present, none other allowed."""


# -- ato runs ----------------------------------------------------------------------------------------
class MetricSummary(Output):
    """One metric of a run: how many points, the last (at the highest step), the finite extremes."""

    count: int
    last_step: int
    last: Number
    min: Annotated[float | None, Meta(description="the smallest finite value; null where none is finite")]
    max: Annotated[float | None, Meta(description="the largest finite value; null where none is finite")]


class ChosenMetric(Output):
    """A metric ``ato runs --metric KEY:max|min`` shows: its best finite value and its last."""

    key: str
    mode: Annotated[str, Meta(description="max or min: which way is best")]
    best: Annotated[float | None, Meta(description="the best finite value; null where none (or not logged)")]
    last: Annotated[Number | None, Meta(description="the value at the highest step; null where not logged")]


class RunRow(Output):
    """One run, as ``ato runs --json`` lists it (the output is an array of these: in id order, or as --sort says)."""

    id: Annotated[int, Meta(description="this database's id of the run")]
    uid: Annotated[str, Meta(description="the run's global id (ato commands take any unique prefix)")]
    project: str
    status: str
    started_at: Seconds
    finished_at: Seconds | None
    tags: list[str]
    structural_hash: str
    metrics: dict[str, MetricSummary]
    host: Annotated[str, Meta(description="the machine the run ran on")]
    duration: Annotated[float | None, Meta(description="seconds from start to finish; null while it runs")]
    config: Annotated[dict[str, Value], Meta(description="every config key, flattened: model.depth, stages[1]")]
    chosen: Annotated[list[ChosenMetric], Meta(description="the metrics --metric chose (default: the first key)")]
    search: Annotated[str | None, Meta(description=(
        "the search the run recorded, or ran a trial of (its config's __hyperopt_id__); null: none"))]
    rank: Annotated[int | None, Meta(description="the run's rank in its distributed job; null: one process")]
    world_size: Annotated[int | None, Meta(description="how many processes its job had; null: not recorded")]
    group: Annotated[str, Meta(description="the id the ranks of one job share (torchrun, SLURM, group=); empty: none")]


# -- ato show ----------------------------------------------------------------------------------------
class ShowRun(Output):
    """What the run was: ids, status, where and when it ran."""

    id: int
    uid: str
    project: str
    status: str
    tags: list[str]
    host: str
    pid: int
    argv: list[str]
    started_at: Seconds
    finished_at: Seconds | None
    duration: Annotated[float | None, Meta(description="seconds from start to finish; null while it runs")]
    structural_hash: str


class ShowKey(Output):
    """One config key (flattened), its value, and the step that set it last."""

    key: Annotated[str, Meta(description="dotted path, [i] for a key that is not text")]
    value: Value
    type: Annotated[str, Meta(description="the value's Python type: tuple, int, float32, ...")]
    set_by: Annotated[str | None, Meta(description="the step that set it last; null outside any recorded merge")]
    kind: Annotated[str | None, Meta(description="that step's kind: default, named, cli, lazy, ...")]
    earlier_steps: Annotated[int, Meta(description="how many steps set it before (ato replay --key shows them)")]


class ShowArtifact(Output):
    """One logged artifact."""

    path: str
    data_type: str | None
    metadata: dict[str, Value]
    size: int | None
    sha256: str | None
    logged_at: Seconds


class ShowEnvironment(Output):
    """What the run's environment fingerprint recorded (null: not recorded)."""

    python: str | None
    implementation: str | None
    platform: str | None
    machine: str | None
    frameworks: Annotated[dict[str, Value], Meta(description="numpy, torch, CUDA, cuDNN versions, where imported")]
    git: Annotated[Value, Meta(description="{commit, dirty, ...} in a git work tree; null outside one")]
    numerics: Annotated[dict[str, Value], Meta(description="torch's numerics switches, where torch was imported")]
    variables: dict[str, Value]
    packages: Annotated[dict[str, str], Meta(description="every installed distribution and its version")]


class ShowOutput(Output):
    """``ato show RUN --json``: one run's record."""

    run: ShowRun
    config: list[ShowKey]
    metrics: dict[str, MetricSummary]
    artifacts: list[ShowArtifact]
    environment: ShowEnvironment | None
    searches: Annotated[list[str], Meta(description="the ids of the searches it recorded (ato replay lists them)")]


# -- ato replay --------------------------------------------------------------------------------------
class ReplayRun(Output):
    """The run that was replayed."""

    id: int
    uid: str
    project: str
    status: str


class AppliedStep(Output):
    """One step of the merge, in applying order."""

    index: int
    step: str
    kind: Annotated[str, Meta(description="default, named, cli, lazy, ...")]
    priority: int | None
    chained_by: str | None


class KeyChange(Output):
    """One step that set a key: what it replaced (null where it added the key) and what it set."""

    step: str
    kind: str
    old: Value
    new: Value
    added: bool


class FinalKey(Output):
    """One key of the final config: its value, its Python type, and every step that set it."""

    key: Annotated[str, Meta(description="dotted path, [i] for a list item")]
    value: Value
    type: Annotated[str, Meta(description="the value's Python type: tuple, int, float32, ...")]
    chain: list[KeyChange]


class ScopeAudit(Output):
    """The merge audit of one scope: applying order, final keys, and whether it replays exactly."""

    scope: str
    argv: list[str]
    order: list[AppliedStep]
    keys: list[FinalKey]
    exact: bool
    differences: list[str]
    not_replayable: list[str]


class SearchRound(Output):
    """One round of successive halving."""

    round: int
    trials: int
    kept: list[int]
    dropped: int
    cutoff: Number | None
    failed: int


class SearchTrial(Output):
    """One trial of a search: the config values that vary across trials, how far it got, its fate."""

    trial: int
    values: Annotated[dict[str, Value], Meta(description="its values of the keys that vary across the trials")]
    round: Annotated[int, Meta(description="the last round it ran in (0 is the first)")]
    metric: Annotated[Number | None, Meta(description="its metric in that round; null where it raised")]
    metrics: Annotated[list[Number | None], Meta(description="its metric in each round it ran, from round 0")]
    outcome: Annotated[str, Meta(description="winner, kept, dropped or failed (raised or NaN: ranked last)")]
    error: str | None


class SearchAudit(Output):
    """A recorded search, and whether its recorded metrics reproduce every decision."""

    search: str
    settings: dict[str, Value]
    rounds: list[SearchRound]
    winner: int | None
    metric: Number | None
    reproduces: bool
    problems: list[str]
    keys: Annotated[list[str], Meta(description="the config keys that vary across the trials")]
    trials: Annotated[list[SearchTrial], Meta(description="every trial, best first: by round reached, then rank")]


class ReplayOutput(Output):
    """``ato replay RUN --json``: exit status 0 where ``exact``, 1 where not."""

    run: ReplayRun
    scopes: list[ScopeAudit]
    searches: list[SearchAudit]
    exact: bool


# -- ato diff ----------------------------------------------------------------------------------------
class ConfigDifference(Output):
    """A config key whose value differs, with the step that set it on each side."""

    key: str
    a: Annotated[Any, Meta(description="run a's value (native JSON); null where absent (set_by_a: absent)")]
    b: Annotated[Any, Meta(description="run b's value (native JSON); null where absent (set_by_b: absent)")]
    set_by_a: str
    set_by_b: str


class StructureDifference(Output):
    """The two structural hashes."""

    a: str
    b: str


class CodeDifference(Output):
    """A traced function whose code fingerprint differs."""

    trace_id: str
    a: str | None
    b: str | None
    changed: Annotated[list[str] | None, Meta(description="what changed; null where only one run recorded it")] = None


class SchemeChange(Output):
    """The runtime digest schemes of the two runs."""

    a: int
    b: int


class RuntimeDifference(Output):
    """A traced function whose outputs differ, and the first call at which they diverged."""

    trace_id: str
    calls_a: int
    calls_b: int
    first_divergent_call: int | None = None
    diverged_after: Annotated[int | None, Meta(description="past the calls whose digests are kept")] = None
    scheme_changed: SchemeChange | None = None
    note: str | None = None


class ProcessDifference(Output):
    """What ran differs: ``script path``, ``script content`` (SHA-256), ``arguments`` (argv past
    the script), ``rank``, ``world size`` or ``group``."""

    what: str
    a: Annotated[Any, Meta(description="run a's: text, a list of arguments, a number, or null (not set)")]
    b: Annotated[Any, Meta(description="run b's, as a")]


class SeedDifference(Output):
    """A generator (``random``, ``numpy``, ``torch``) whose seed or state at the run's start differs."""

    generator: str
    a: Annotated[Any, Meta(description="the seed seen; else 'seeded (value not seen)' or 'not seeded'")]
    b: Any
    note: str


class NumericsDifference(Output):
    """A numerics switch (or ``$VARIABLE``) that changed."""

    switch: str
    a: Value
    b: Value


class EnvironmentDifference(Output):
    """Something of the environment that differs (python, a package, git commit, ...)."""

    what: str
    a: Value
    b: Value


class MetricPointDifference(Output):
    """The first step at which a metric differs (null: no point there)."""

    step: int
    a: Number | None
    b: Number | None


class MetricComparison(Output):
    """A metric both runs logged; ``first_difference`` null where identical."""

    key: str
    first_difference: MetricPointDifference | None


class FunctionCodeChange(Output):
    """A function whose source differs (``ato diff --code``); a and b: its source's SHA-256."""

    function: Annotated[str, Meta(description="qualified name, prefixed by its module unless __main__")]
    trace_ids: Annotated[list[str], Meta(description="the changed traces that reach it")]
    a: Annotated[str | None, Meta(description="null where run a did not reach it")]
    b: Annotated[str | None, Meta(description="null where run b did not reach it")]
    diff: Annotated[str | None, Meta(description="a unified diff; null where a source was not stored (note)")]
    note: str | None


class PatchCodeChange(Output):
    """The two runs' uncommitted changes (git diff HEAD) where they differ; a and b: SHA-256s."""

    a: Annotated[str | None, Meta(description="null: a clean tree, or no git work tree")]
    b: str | None
    diff: Annotated[str | None, Meta(description="a unified diff of the two patches; null where one was not stored")]
    note: str | None


class CodeDiff(Output):
    """What changed in the code (``ato diff --code``)."""

    functions: list[FunctionCodeChange]
    patch: PatchCodeChange | None


class DiffOutput(Output):
    """``ato diff A B --json``: the differences, most likely cause first (empty lists: none)."""

    a: int
    b: int
    config: list[ConfigDifference]
    structure: StructureDifference | None
    code: list[CodeDifference]
    runtime: list[RuntimeDifference]
    process: list[ProcessDifference]
    seeds: list[SeedDifference]
    numerics: list[NumericsDifference]
    numerics_recorded: bool
    numerics_recorded_by: int
    environment: list[EnvironmentDifference]
    metrics: list[MetricComparison]
    checked: Annotated[list[str], Meta(description="what was compared, found equal or not")]
    notes: Annotated[list[str], Meta(description="what was not compared, and why (a run recorded before it was kept)")]
    verdict: str
    code_diff: Annotated[CodeDiff | None, Meta(description="with --code only; else null")] = None


# -- ato plot ----------------------------------------------------------------------------------------
class PlotCurve(Output):
    """One run's points of the metric, as plotted (downsampled: each bucket's extremes kept)."""

    run: int
    label: str
    total: Annotated[int, Meta(description="the run's points of the metric before the downsample")]
    steps: list[int]
    values: list[Number]


class PlotOutput(Output):
    """``ato plot RUN... --metric KEY --json``: the curves, and the file written (null: none)."""

    metric: str
    out: str | None
    curves: list[PlotCurve]


# -- ato report --------------------------------------------------------------------------------------
class ReportOutput(Output):
    """``ato report A B ... -o FILE --json``: the HTML file written."""

    out: str
    runs: Annotated[list[int], Meta(description="the runs, the base first")]
    bytes: int
    curves: Annotated[list[str], Meta(description="the metrics drawn (empty where matplotlib is missing)")]


# -- maintenance -------------------------------------------------------------------------------------
class RebuildOutput(Output):
    """``ato rebuild --json``."""

    events: int
    seconds: float


class VerifyOutput(Output):
    """``ato verify --json``: exit status 0 where ``ok``, 1 where not."""

    events: int
    ok: bool
    problems: list[str]
    skipped: list[str]
    notes: list[str] = []


class ImportOutput(Output):
    """``ato import OLD_DB --json``."""

    source: str
    runs: int
    events: int


MergeOutput = Annotated[dict[str, int], Meta(description="new events appended, by source database")]
SchemaOutput = Annotated[dict[str, Any], Meta(description="a JSON Schema, or every command's by name")]


# -- ato export --------------------------------------------------------------------------------------
ExportOutput = Annotated[list[dict[str, Value]], Meta(description=(
    "`ato export PROJECT --format json` (the same as --json): one object per run, by column: id, uid, "
    "project, status, started and finished (ISO 8601 UTC text; finished null while running), duration "
    "(seconds), tags (comma-joined), host, the flattened config (model.depth), and KEY:last, KEY:min, "
    "KEY:max (KEY:best with a direction) per --metric, as --columns chose and named them; a missing "
    "value is null. With --points: one object per metric point: run, key, step, value, timestamp"))]


# -- errors ------------------------------------------------------------------------------------------
class ErrorDetail(Output):
    """What went wrong."""

    command: Annotated[str | None, Meta(description="the ato command; null where none was given")]
    type: Annotated[str, Meta(description="the error's class: UnknownProjectError, UsageError, ...")]
    message: Annotated[str, Meta(description="the one line a terminal shows")]
    suggestions: Annotated[list[str], Meta(description="the closest known names, or the candidates")] = []


class ErrorOutput(Output):
    """Any command's stdout in JSON mode when it fails (exit status 1; 2 for a usage error)."""

    error: ErrorDetail


OUTPUTS: dict[str, Any] = {
    "runs": list[RunRow],
    "show": ShowOutput,
    "replay": ReplayOutput,
    "diff": DiffOutput,
    "rebuild": RebuildOutput,
    "verify": VerifyOutput,
    "merge": MergeOutput,
    "import": ImportOutput,
    "schema": SchemaOutput,
    "export": ExportOutput,
    "plot": PlotOutput,
    "report": ReportOutput,
}
"""Each command's ``--json`` output."""

SCHEMAS: dict[str, Any] = {**OUTPUTS, "error": ErrorOutput}
"""What ``ato schema NAME`` publishes: each command's output, and the error object."""


def encode(command: str, data: Any) -> bytes:
    """``data`` (plain data: dicts, lists, values) as ``command``'s output: converted into its
    struct (a mismatch is a bug, and raises), then encoded as indented JSON."""
    shape = OUTPUTS.get(command) if command != "error" else ErrorOutput
    if shape is None:
        raise KeyError(f"`ato {command} --json` has no output struct: define one in ato/cli/outputs.py")
    typed = msgspec.convert(json_value(data), shape)
    return msgspec.json.format(msgspec.json.encode(typed), indent=2)


def json_schema(name: str) -> dict[str, Any]:
    """The JSON Schema of ``ato NAME --json`` (``"error"``: of the error object)."""
    schema: dict[str, Any] = msgspec.json.schema(SCHEMAS[name])
    title = "the error object of every ato command" if name == "error" else f"ato {name} --json"
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": title, **schema}

