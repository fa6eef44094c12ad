"""Why did this result change? Everything two runs recorded, compared, most likely cause first.

1. config values that differ, each with the step that set it on each side (from the merge trace);
2. the structural hash;
3. code fingerprints per trace id (and which part: the function itself, or a helper it calls);
4. runtime fingerprints per trace id, with the first call at which the outputs diverged;
5. what ran: the script (path and content), the arguments, the rank, world size and group;
   then the seeds of ``random``, numpy and torch (:mod:`ato.tracking.verdict`);
6. numerics: torch's determinism and precision switches (TF32, cuDNN benchmark, deterministic
   algorithms, ...) and the variables that change results (``CUBLAS_WORKSPACE_CONFIG``), each
   named as a likely cause of differing results;
7. the rest of the environment: Python, platform, package versions, frameworks (GPUs, driver,
   CUDA and cuDNN), other variables, git state;
8. for each metric both runs logged, the first step at which the values differ.

The verdict names each kind of difference found, most likely cause first. When only the metrics
differ, it says so and names everything it checked and found the same, which points at
non-determinism (nondeterministic kernels, data order, threads, a generator seeded in neither run). Runs
recorded before Ato kept the numerics switches, the script, the seeds or the rank compare on what
both recorded, with a note (``notes``) for what was not compared.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ato.config.merge_trace import (
    MergeTrace,
    flatten,
    format_path,
    same,
    snapshot_value,
)
from ato.display import render_html, render_rich
from ato.fingerprints.environment import NUMERICS_VARIABLES
from ato.fingerprints.runtime import compare_runtime
from ato.tracking.display import diff_repr, diff_view
from ato.tracking.finder import Run, SQLFinder
from ato.tracking.verdict import compare_process, compare_seeds, verdict

__all__ = ["RunDiff", "diff_runs"]

_pack = struct.Struct("<d").pack


@dataclass
class RunDiff:
    """The differences between two runs, section by section (empty sections: no difference)."""

    a: Run
    b: Run
    config: list[dict[str, Any]] = field(default_factory=list)
    structure: dict[str, str] | None = None
    code: list[dict[str, Any]] = field(default_factory=list)
    runtime: list[dict[str, Any]] = field(default_factory=list)
    process: list[dict[str, Any]] = field(default_factory=list)  # script, arguments, rank, world size, group
    seeds: list[dict[str, Any]] = field(default_factory=list)
    numerics: list[dict[str, Any]] = field(default_factory=list)
    environment: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    numerics_recorded: bool = False  # the switches were compared (see _numerics_differences)
    numerics_recorded_by: int = 0  # how many of the two runs recorded torch's switches
    checked: list[str] = field(default_factory=list)  # what was compared (found equal or not)
    notes: list[str] = field(default_factory=list)  # what could not be compared, and why
    seeds_not_compared: list[str] = field(default_factory=list)  # generators whose seeds could not be compared, and why

    @property
    def causes(self) -> bool:
        """Whether anything other than the metrics differs."""
        return bool(self.config or self.structure or self.code or self.runtime or self.process or self.seeds
                    or self.numerics or self.environment)

    @property
    def verdict(self) -> str:
        """The differences found by name, most likely first; or what was checked and found the same."""
        return verdict(self)

    def to_json(self) -> dict[str, Any]:
        return {
            "a": self.a.id,
            "b": self.b.id,
            "config": self.config,
            "structure": self.structure,
            "code": self.code,
            "runtime": self.runtime,
            "process": self.process,
            "seeds": self.seeds,
            "numerics": self.numerics,
            "numerics_recorded": self.numerics_recorded,
            "numerics_recorded_by": self.numerics_recorded_by,
            "environment": self.environment,
            "metrics": self.metrics,
            "checked": self.checked,
            "notes": self.notes,
            "verdict": self.verdict,
        }

    def __repr__(self) -> str:
        # One short line: the dataclass's own would print both runs and every section.
        return diff_repr(self)

    def _repr_html_(self) -> str:
        """The diff as HTML tables, for Jupyter: a line per section, a table per section that
        differs, the verdict. Escaped and bounded (:mod:`ato.display`)."""
        return render_html(diff_view(self))

    def __rich__(self) -> Any:
        """The diff as rich tables (rich imported only now), as :meth:`_repr_html_`."""
        return render_rich(diff_view(self))


def diff_runs(finder: SQLFinder, a_id: int | str, b_id: int | str) -> RunDiff:
    """Compare runs ``a_id`` and ``b_id`` of the finder's database."""
    a, b = finder.get_run(a_id), finder.get_run(b_id)
    result = RunDiff(a, b)
    traces = (_traces(finder, a), _traces(finder, b))
    result.config = _config_differences(a, b, traces)
    if a.structural_hash != b.structural_hash:
        result.structure = {"a": a.structural_hash, "b": b.structural_hash}
    prints = (_fingerprints(finder, a), _fingerprints(finder, b))
    result.code = _code_differences(*prints)
    result.runtime = _runtime_differences(*prints)
    env = (_environment_detail(prints[0]), _environment_detail(prints[1]))
    process, seeds = compare_process(a, b, *env), compare_seeds(a, b, *env)
    result.process, result.seeds, result.seeds_not_compared = process.differences, seeds.differences, seeds.seeds_not_compared
    result.numerics, result.numerics_recorded, result.numerics_recorded_by = _numerics_differences(*prints)
    result.environment = _environment_differences(*prints)
    result.checked = ["config", "config structure"]
    if any(kind == "static" for _, kind in (*prints[0], *prints[1])):
        result.checked.append("code fingerprints")
    if any(kind == "runtime" for _, kind in (*prints[0], *prints[1])):
        result.checked.append("runtime outputs")
    result.checked += process.checked + seeds.checked
    if result.numerics_recorded:
        result.checked.append("numerics switches")
    elif result.numerics_recorded_by:
        result.notes.append("numerics switches: not compared (only one run recorded torch's switches)")
    if env[0] and env[1]:
        result.checked.append("environment")
    result.notes += process.notes + seeds.notes
    for key in sorted(set(a.metric_summaries) & set(b.metric_summaries)):
        series = (finder.get_metrics(a.id, key), finder.get_metrics(b.id, key))
        result.metrics.append({"key": key, "first_difference": _first_metric_difference(*series)})
    return result


def _traces(finder: SQLFinder, run: Run) -> list[MergeTrace]:
    return [MergeTrace.from_events(events) for events in finder.get_run_events(run.id).scopes.values()]


def _set_by(traces: list[MergeTrace], key: str) -> str:
    for trace in traces:
        winner = trace.history(key).winner
        if winner is not None:
            return f"{winner.step} ({winner.kind})"
    return "not set by a scope"


def _config_differences(a: Run, b: Run, traces: tuple[list[MergeTrace], list[MergeTrace]]) -> list[dict[str, Any]]:
    flat_a, flat_b = flatten(a.config), flatten(b.config)
    differences = []
    for path in [*flat_a, *(p for p in flat_b if p not in flat_a)]:
        left, right = flat_a.get(path), flat_b.get(path)
        if path in flat_a and path in flat_b and same(left, right):
            continue
        key = format_path(path)
        differences.append(
            {
                "key": key,
                "a": snapshot_value(left) if path in flat_a else None,  # values, not reprs (--json
                "b": snapshot_value(right) if path in flat_b else None,  # writes them natively)
                "set_by_a": _set_by(traces[0], key) if path in flat_a else "absent",
                "set_by_b": _set_by(traces[1], key) if path in flat_b else "absent",
            }
        )
    return differences


def _fingerprints(finder: SQLFinder, run: Run) -> dict[tuple[str, str], tuple[str, dict[str, Any]]]:
    return {(f.trace_id, f.kind): (f.fingerprint, f.detail) for f in finder.get_fingerprints(run.id)}


def _changed(a: dict[Any, Any], b: dict[Any, Any], kind: str) -> list[tuple[str, Any, Any]]:
    """``(trace_id, left, right)`` for every ``kind`` fingerprint that differs or is one-sided."""
    out = []
    for trace_id, found in sorted({key for key in (*a, *b) if key[1] == kind}):
        left, right = a.get((trace_id, found)), b.get((trace_id, found))
        if left is None or right is None or left[0] != right[0]:
            out.append((trace_id, left, right))
    return out


def _code_differences(a: dict[Any, Any], b: dict[Any, Any]) -> list[dict[str, Any]]:
    out = []
    for trace_id, left, right in _changed(a, b, "static"):
        entry: dict[str, Any] = {
            "trace_id": trace_id,
            "a": left[0] if left else None,
            "b": right[0] if right else None,
        }
        if left and right:  # else "changed" stays out: recorded in only one run
            changed = []
            if left[1].get("own") != right[1].get("own"):
                changed.append("the function itself")
            calls_a, calls_b = left[1].get("calls", {}), right[1].get("calls", {})
            changed += [f"helper {name}()" for name in sorted(set(calls_a) | set(calls_b))
                        if calls_a.get(name) != calls_b.get(name)]
            entry["changed"] = changed
        out.append(entry)
    return out


def _runtime_differences(a: dict[Any, Any], b: dict[Any, Any]) -> list[dict[str, Any]]:
    out = []
    for trace_id, left, right in _changed(a, b, "runtime"):
        entry: dict[str, Any] = {
            "trace_id": trace_id,
            "calls_a": left[1]["calls"] if left else 0,
            "calls_b": right[1]["calls"] if right else 0,
        }
        if left and right:
            compared = compare_runtime(left[1], right[1])  # with a note where the digest scheme changed
            if compared["first_divergent_call"] is None:
                if not (left[1].get("truncated") or right[1].get("truncated")):
                    continue  # every call's digest agrees (recorded by two schemes, say): no difference
                kept = min(len(left[1].get("digests", [])), len(right[1].get("digests", [])))
                compared["diverged_after"] = kept  # past the calls whose digests are kept
            entry.update(compared)
        out.append(entry)
    return out


def _environment_detail(prints: dict[Any, Any]) -> dict[str, Any]:
    return prints.get(("environment", "environment"), (None, {}))[1]


# The variables Ato recorded (when set) before it kept the numerics switches: a run recorded then
# (no "numerics" in its environment) never looked at the others, so their absence says nothing.
_VARIABLES_BEFORE_NUMERICS = frozenset({
    "PYTHONHASHSEED", "CUBLAS_WORKSPACE_CONFIG", "CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS", "NVIDIA_TF32_OVERRIDE", "TF_DETERMINISTIC_OPS",
})


def _watched(detail: dict[str, Any]) -> frozenset[str] | None:
    """The variables a run's record looked at (recorded where set); None: every one Ato knows."""
    return None if "numerics" in detail else _VARIABLES_BEFORE_NUMERICS


def _numerics_differences(a: dict[Any, Any], b: dict[Any, Any]) -> tuple[list[dict[str, Any]], bool, int]:
    """Changed numerics switches and variables, whether the switches were compared (both runs
    recorded them, or neither imported torch), and how many of the two runs recorded them.

    A switch one run lacks (recorded before Ato kept them, without torch, or by a torch without
    that switch) is not compared: the torch version, if it differs, is in the environment section.
    Nor is a variable one run never looked at (recorded before Ato watched it): a variable is
    recorded only where it is set, so its absence from such a run's record says nothing."""
    left, right = _environment_detail(a), _environment_detail(b)
    switches_a, switches_b = left.get("numerics"), right.get("numerics")
    recorded_by = sum(isinstance(switches, dict) and bool(switches) for switches in (switches_a, switches_b))
    recorded = False
    out = []
    if recorded_by == 2 and isinstance(switches_a, dict) and isinstance(switches_b, dict):  # both recorded torch's switches
        recorded = True
        for name in sorted(set(switches_a) & set(switches_b)):
            if switches_a[name] != switches_b[name]:
                out.append({"switch": name, "a": switches_a[name], "b": switches_b[name]})
    variables_a, variables_b = left.get("variables") or {}, right.get("variables") or {}
    watched_a, watched_b = _watched(left), _watched(right)
    for name in NUMERICS_VARIABLES:
        if (watched_a is not None and name not in watched_a) or (watched_b is not None and name not in watched_b):
            continue
        if variables_a.get(name) != variables_b.get(name):
            out.append({"switch": f"${name}", "a": variables_a.get(name), "b": variables_b.get(name)})
    return out, recorded, recorded_by


def _environment_differences(a: dict[Any, Any], b: dict[Any, Any]) -> list[dict[str, Any]]:
    left, right = _environment_detail(a), _environment_detail(b)
    out = []
    for field_name in ("python", "implementation", "platform", "machine"):
        if left.get(field_name) != right.get(field_name):
            out.append({"what": field_name, "a": left.get(field_name), "b": right.get(field_name)})
    for section in ("packages", "frameworks", "variables"):
        values_a, values_b = left.get(section) or {}, right.get(section) or {}
        for name in sorted(set(values_a) | set(values_b)):
            if section == "variables" and name in NUMERICS_VARIABLES:
                continue  # in the numerics section
            if section == "variables" and any(watched is not None and name not in watched
                                              for watched in (_watched(left), _watched(right))):
                continue  # one run never looked at it
            if values_a.get(name) != values_b.get(name):
                out.append({"what": f"{section[:-1] if section != 'variables' else 'variable'} {name}",
                            "a": values_a.get(name), "b": values_b.get(name)})
    git_a, git_b = left.get("git") or {}, right.get("git") or {}
    for name in ("commit", "dirty", "diff_sha256"):
        if git_a.get(name) != git_b.get(name):
            out.append({"what": f"git {name}", "a": git_a.get(name), "b": git_b.get(name)})
    return out


def _first_metric_difference(a: Iterable[tuple[int, float]], b: Iterable[tuple[int, float]]) -> dict[str, Any] | None:
    series_a, series_b = dict(a), dict(b)
    for step in sorted(set(series_a) | set(series_b)):
        left, right = series_a.get(step), series_b.get(step)
        if left is None or right is None or _pack(left) != _pack(right):
            return {"step": step, "a": left, "b": right}
    return None
