"""What changed in the code between two runs: the lines, not only the fingerprints.

Each run's code fingerprints name the normalised source of every traced function and of each
helper it reaches (``detail["sources"]``: ``{function: sha256}``), and its environment names the
git patch of a dirty work tree (``git.diff_sha256``); the texts are ``source.recorded`` events,
stored once per database (:mod:`ato.fingerprints.sources`). :func:`code_changes` compares them:

- for every trace id whose code fingerprint differs, each function (the traced one or a helper)
  whose source differs, as a unified diff (:mod:`difflib`), a function listed once however many
  traces reach it. A function only one run reached is diffed against nothing. A trace for which
  a run recorded no source at all (recorded before Ato kept sources, or a function with no source
  file) is listed by its trace id with a ``note`` and no diff, as is a text the database lacks;
- the two runs' uncommitted changes (``git diff HEAD``), where they differ, as a unified diff of
  the two patches (a clean tree counts as an empty patch); where the commits differ too, the
  note says so, since the patches are then against different bases.

A comment-only edit changes no fingerprint, so it shows no diff: the same rule as ``ato diff``.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ato.events.types import SourceRecorded, source_event_id
from ato.fingerprints.sources import text_sha256
from ato.storage import loop
from ato.storage.log import SQLiteEventLog
from ato.tracking.finder import Run, SQLFinder

__all__ = ["CodeChanges", "FunctionChange", "PatchChange", "code_changes", "read_sources"]


@dataclass
class FunctionChange:
    """One function whose source differs between the runs (``a``/``b``: its source's SHA-256,
    None where that run did not reach it)."""

    function: str
    trace_ids: list[str]
    a: str | None
    b: str | None
    diff: str | None  # unified diff; None where a text is missing (see ``note``)
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"function": self.function, "trace_ids": self.trace_ids, "a": self.a, "b": self.b,
                "diff": self.diff, "note": self.note}


@dataclass
class PatchChange:
    """The two runs' uncommitted changes (``git diff HEAD``), where they differ."""

    a: str | None  # the patch's SHA-256; None: a clean tree (or not a git work tree)
    b: str | None
    diff: str | None
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "diff": self.diff, "note": self.note}


@dataclass
class CodeChanges:
    """Every code difference between runs ``a`` and ``b`` (empty: the same code)."""

    a: Run
    b: Run
    functions: list[FunctionChange] = field(default_factory=list)
    patch: PatchChange | None = None

    def to_json(self) -> dict[str, Any]:
        return {"functions": [change.to_json() for change in self.functions],
                "patch": self.patch.to_json() if self.patch else None}


def code_changes(finder: SQLFinder, a_id: int | str, b_id: int | str) -> CodeChanges:
    """Compare the code of runs ``a_id`` and ``b_id`` of the finder's database."""
    a, b = finder.get_run(a_id), finder.get_run(b_id)
    prints_a, prints_b = _by_trace(finder, a), _by_trace(finder, b)
    named: dict[str, tuple[list[str], str | None, str | None]] = {}  # function -> traces, sha a, sha b
    unrecorded: list[FunctionChange] = []
    for trace_id in sorted((set(prints_a) | set(prints_b)) - {"environment"}):
        left, right = prints_a.get(trace_id), prints_b.get(trace_id)
        if left is not None and right is not None and left.fingerprint == right.fingerprint:
            continue
        sources_a = (left.detail.get("sources") or {}) if left is not None else {}
        sources_b = (right.detail.get("sources") or {}) if right is not None else {}
        silent = [run.id for run, found, sources in ((a, left, sources_a), (b, right, sources_b))
                  if found is not None and not sources]
        if silent:  # no text to compare with: a diff against nothing would show the whole code as new
            unrecorded.append(FunctionChange(trace_id, [trace_id], None, None, None, (
                f"run {' and run '.join(map(str, silent))} recorded no source for it (recorded before "
                "Ato kept sources, or a function without a source file)")))
            continue
        for function in sorted(set(sources_a) | set(sources_b)):
            pair = sources_a.get(function), sources_b.get(function)
            if pair[0] == pair[1]:
                continue
            traces, *_ = named.setdefault(function, ([], *pair))
            traces.append(trace_id)
    git_a, git_b = _git(prints_a), _git(prints_b)
    patches = git_a.get("diff_sha256"), git_b.get("diff_sha256")
    texts = read_sources(finder, [digest for _, *pair in named.values() for digest in pair if digest]
                         + [digest for digest in patches if digest])
    result = CodeChanges(a, b)
    for function, (traces, sha_a, sha_b) in named.items():
        result.functions.append(_function_change(function, traces, sha_a, sha_b, texts, a.id, b.id))
    result.functions += unrecorded
    if patches[0] != patches[1]:
        result.patch = _patch_change(patches, texts, a.id, b.id)
        if git_a.get("commit") != git_b.get("commit"):
            commits = f"{str(git_a.get('commit'))[:12]} vs {str(git_b.get('commit'))[:12]}"
            result.patch.note = " ".join(filter(None, [result.patch.note, f"the commits differ too ({commits})"]))
    return result


def read_sources(finder: SQLFinder, digests: list[str]) -> dict[str, str]:
    """The stored texts of ``digests`` (SHA-256s) that the finder's database holds, by digest."""
    wanted = sorted(set(digests))
    if not wanted:
        return {}
    return loop.call(_read_sources, finder.path, wanted)


async def _read_sources(path: Path, digests: list[str]) -> dict[str, str]:
    # The texts are events of the log, found by the ids derived from their hashes, through a
    # read-only connection of their own (SQLFinder has no query for them). A text is believed
    # only where it hashes to its digest: an event merged from another file under that id with
    # other text (or a damaged one, which the log skips) counts as not stored.
    log = await SQLiteEventLog.open_read_only(path)
    try:
        events = await log.events_by_id(source_event_id(digest) for digest in digests)
    finally:
        await log.close()
    wanted = set(digests)
    return {
        event.sha256: event.text for event in events
        if isinstance(event, SourceRecorded) and event.sha256 in wanted and text_sha256(event.text) == event.sha256
    }


def _by_trace(finder: SQLFinder, run: Run) -> dict[str, Any]:
    return {f.trace_id: f for f in finder.get_fingerprints(run.id) if f.kind in ("static", "environment")}


def _git(prints: dict[str, Any]) -> dict[str, Any]:
    environment = prints.get("environment")
    return (environment.detail.get("git") or {}) if environment is not None else {}


def _unified(old: str, new: str, old_label: str, new_label: str) -> str:
    lines = difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True), old_label, new_label)
    # a last line without a newline would run into the next header
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _function_change(function: str, traces: list[str], sha_a: str | None, sha_b: str | None,
                     texts: dict[str, str], a_id: int, b_id: int) -> FunctionChange:
    missing = [f"run {run_id}" for run_id, sha in ((a_id, sha_a), (b_id, sha_b)) if sha is not None and sha not in texts]
    change = FunctionChange(function, traces, sha_a, sha_b, None)
    if missing:
        change.note = f"source not stored in this database for {' and '.join(missing)}"
        return change
    old, new = texts.get(sha_a or "", ""), texts.get(sha_b or "", "")
    change.diff = _unified(old, new, f"run {a_id}: {function}", f"run {b_id}: {function}")
    if sha_a is None or sha_b is None:
        change.note = f"reached by run {a_id if sha_b is None else b_id} only"
    return change


def _patch_change(patches: tuple[str | None, str | None], texts: dict[str, str], a_id: int, b_id: int) -> PatchChange:
    change = PatchChange(patches[0], patches[1], None)
    missing = [f"run {run_id}" for run_id, sha in zip((a_id, b_id), patches) if sha is not None and sha not in texts]
    if missing:
        change.note = f"patch not stored for {' and '.join(missing)} (larger than 1 MiB, or recorded before Ato kept it)"
        return change
    old, new = texts.get(patches[0] or "", ""), texts.get(patches[1] or "", "")
    change.diff = _unified(old, new, f"run {a_id}: git diff HEAD", f"run {b_id}: git diff HEAD")
    return change
