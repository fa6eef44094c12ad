"""What changed in the code: each run keeps its functions' sources and its git patch (stored once
per database), and ``ato diff --code`` shows the lines that changed."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import jsonschema
import pytest

from ato.fingerprints.sources import MAX_PATCH_BYTES, normalise
from tests.conftest import ato, run_script

SCRIPT = """
from ato.adict import ADict
from ato.db_routers.sql.manager import SQLLogger
from ato.scope import Scope

scope = Scope()


def helper(x):
    return x * {factor}


@scope.trace(trace_id="train_step")
def train_step(x):
    # {comment}
    return helper(x) + 1


config = ADict(experiment=ADict(project_name="p", sql=ADict(db_path="sqlite:///exp.db")), lr=0.1)
with SQLLogger(config) as logger:
    logger.run()
    for i in range(3):
        logger.log_metric("loss", train_step(i) * 0.1, i)
"""


def _git(folder: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=folder, check=True,
                   capture_output=True)


def _repo(tmp_path: Path) -> Path:
    _git(tmp_path, "init", "-q", ".")
    (tmp_path / "data.txt").write_text("one\n")
    _git(tmp_path, "add", "data.txt")
    _git(tmp_path, "commit", "-q", "-m", "init")
    return tmp_path


def _run(tmp_path: Path, factor: int = 2, comment: str = "a comment") -> None:
    run_script(tmp_path, SCRIPT.format(factor=factor, comment=comment))


def _sources(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as connection:
        return connection.execute("SELECT event_id, run FROM events WHERE type = 'source.recorded'").fetchall()


def test_diff_code_shows_the_changed_helper_line_by_line(tmp_path: Path) -> None:
    _run(tmp_path, factor=2)
    _run(tmp_path, factor=3)
    result = ato("diff", "1", "2", "--code", "--db", "sqlite:///exp.db", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "code: train_step changed (helper helper())" in result.stdout
    assert "--- helper (in train_step)" in result.stdout
    assert "-    return x * 2" in result.stdout and "+    return x * 3" in result.stdout
    assert "def train_step" not in result.stdout  # its own source did not change: not shown
    without = ato("diff", "1", "2", "--db", "sqlite:///exp.db", cwd=tmp_path)
    assert "return x * 2" not in without.stdout  # only with --code


def test_each_source_is_stored_once_per_database_and_belongs_to_no_run(tmp_path: Path) -> None:
    _run(tmp_path, factor=2)
    first = _sources(tmp_path / "exp.db")
    assert len(first) == 2 and all(run == "" for _, run in first)  # train_step and helper
    _run(tmp_path, factor=2)  # the same code again: nothing new stored
    assert _sources(tmp_path / "exp.db") == first
    _run(tmp_path, factor=3)  # only the changed helper is new
    assert len(_sources(tmp_path / "exp.db")) == 3
    with sqlite3.connect(tmp_path / "exp.db") as connection:
        (detail,) = connection.execute(
            "SELECT detail FROM fingerprints WHERE run_id = 3 AND trace_id = 'train_step'").fetchone()
    named = json.loads(detail)["sources"]
    assert set(named) == {"train_step", "helper"}
    assert {f"source-{digest}" for digest in named.values()} <= {event_id for event_id, _ in _sources(tmp_path / "exp.db")}


def test_merging_two_databases_stores_a_shared_source_once(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _run(tmp_path / "a", factor=2)
    _run(tmp_path / "b", factor=3)
    result = ato("merge", str(tmp_path / "b" / "exp.db"), "--db", "sqlite:///a/exp.db", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    ids = [event_id for event_id, _ in _sources(tmp_path / "a" / "exp.db")]
    assert len(ids) == len(set(ids)) == 3  # train_step's source was in both: kept once
    diff = ato("diff", "1", "2", "--code", "--db", "sqlite:///a/exp.db", cwd=tmp_path)
    assert "+    return x * 3" in diff.stdout


def test_a_comment_only_edit_shows_no_code_diff(tmp_path: Path) -> None:
    _run(tmp_path, comment="one comment")
    _run(tmp_path, comment="another comment")
    result = ato("diff", "1", "2", "--code", "--db", "sqlite:///exp.db", cwd=tmp_path)
    assert "code: same fingerprints" in result.stdout
    assert "no change in the recorded sources" in result.stdout


def test_the_git_patches_of_two_dirty_trees_are_diffed(tmp_path: Path) -> None:
    _repo(tmp_path)
    (tmp_path / "data.txt").write_text("two\n")
    _run(tmp_path)
    (tmp_path / "data.txt").write_text("three\n")
    _run(tmp_path)
    result = ato("diff", "1", "2", "--code", "--db", "sqlite:///exp.db", cwd=tmp_path)
    assert "uncommitted changes (git diff HEAD) differ" in result.stdout
    assert "-+two" in result.stdout and "++three" in result.stdout  # a diff of the two patches
    data = json.loads(ato("diff", "1", "2", "--code", "--json", "--db", "sqlite:///exp.db", cwd=tmp_path).stdout)
    schema = json.loads(ato("schema", "diff", cwd=tmp_path).stdout)
    jsonschema.validate(data, schema)
    patch = data["code_diff"]["patch"]
    assert patch["note"] is None and "+three" in patch["diff"]
    assert {patch["a"], patch["b"]} == {e["a"] for e in data["environment"] if e["what"] == "git diff_sha256"} | {
        e["b"] for e in data["environment"] if e["what"] == "git diff_sha256"}


def test_a_clean_tree_compares_as_an_empty_patch(tmp_path: Path) -> None:
    _repo(tmp_path)
    (tmp_path / ".gitignore").write_text("exp.db*\nscript.py\n")
    _git(tmp_path, "add", ".gitignore")
    _git(tmp_path, "commit", "-q", "-m", "ignore")
    _run(tmp_path)
    (tmp_path / "data.txt").write_text("changed\n")
    _run(tmp_path)
    data = json.loads(ato("diff", "1", "2", "--code", "--json", "--db", "sqlite:///exp.db", cwd=tmp_path).stdout)
    patch = data["code_diff"]["patch"]
    assert patch["a"] is None and patch["b"] is not None
    assert "+-one" in patch["diff"] and "++changed" in patch["diff"]


def test_a_patch_over_the_bound_is_recorded_by_hash_only(tmp_path: Path) -> None:
    _repo(tmp_path)
    (tmp_path / "data.txt").write_text(("y" * 99 + "\n") * (MAX_PATCH_BYTES // 100 + 10))  # a patch over 1 MiB
    _run(tmp_path)
    (tmp_path / "data.txt").write_text("small\n")
    _run(tmp_path)
    with sqlite3.connect(tmp_path / "exp.db") as connection:
        kinds = connection.execute("SELECT payload FROM events WHERE type = 'source.recorded'").fetchall()
        sizes = [json.loads(d)["git"]["diff_bytes"] for (d,) in connection.execute(
            "SELECT detail FROM fingerprints WHERE trace_id = 'environment' ORDER BY run_id")]
    assert sizes[0] > MAX_PATCH_BYTES and 0 < sizes[1] < 1000
    assert all(len(payload) < MAX_PATCH_BYTES for (payload,) in kinds)  # the large patch is not stored
    data = json.loads(ato("diff", "1", "2", "--code", "--json", "--db", "sqlite:///exp.db", cwd=tmp_path).stdout)
    patch = data["code_diff"]["patch"]
    assert patch["diff"] is None and "patch not stored for run 1" in patch["note"]


def test_normalised_sources_ignore_indentation_and_line_endings() -> None:
    assert normalise("    def f(x):  \r\n        return x\r\n\r\n") == "def f(x):\n    return x\n"


def test_a_run_that_recorded_no_source_gets_a_note_not_a_whole_function_as_new(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As a run recorded before Ato kept sources (or a function built without a source file)."""
    import ato.fingerprints.code as code
    from ato.config.adict import ADict
    from ato.fingerprints.tracing import _static, static_trace
    from ato.tracking.logger import SQLLogger

    config = ADict(experiment=ADict(project_name="p", sql=ADict(db_path=f"sqlite:///{tmp_path / 'exp.db'}")))

    def step(x: int) -> int:
        return x + 1

    monkeypatch.setitem(_static, "step", (step, False))  # so that the trace is unregistered after the test
    static_trace("step", follow_calls=False)(step)
    with monkeypatch.context() as without:
        without.setattr(code, "source_text", lambda fn: None)
        with SQLLogger(config) as logger:
            logger.run()

    def other(x: int) -> int:
        return x + 2

    static_trace("step", follow_calls=False)(other)  # the same trace id, new code
    with SQLLogger(config) as logger:
        logger.run()
    data = json.loads(ato("diff", "1", "2", "--code", "--json", "--db", f"sqlite:///{tmp_path / 'exp.db'}", cwd=tmp_path).stdout)
    (change,) = [c for c in data["code_diff"]["functions"] if c["function"] == "step"]
    assert change["diff"] is None and "run 1 recorded no source" in change["note"]


def test_a_stored_text_that_does_not_hash_to_its_digest_counts_as_not_stored(tmp_path: Path) -> None:
    """A file merged from elsewhere could hold another text under a source's id: a diff never
    shows it as that function's code."""
    import anyio

    from ato.events.types import SourceRecorded, source_event_id
    from ato.fingerprints.sources import source_event, text_sha256
    from ato.projections.maintenance import open_store
    from ato.tracking.code_diff import read_sources
    from ato.tracking.finder import SQLFinder

    real, other = "def f():\n    return 1\n", "def f():\n    return 2\n"
    forged = SourceRecorded(event_id=source_event_id(text_sha256(real)), sha256=text_sha256(real), text=other)
    path = tmp_path / "forged.db"

    async def write() -> None:
        store = await open_store(path)
        try:
            await store.append_missing([forged, source_event(other)])
        finally:
            await store.close()

    anyio.run(write)
    with SQLFinder(path) as finder:
        assert read_sources(finder, [text_sha256(real), text_sha256(other)]) == {text_sha256(other): other}


def test_the_patch_stays_out_of_the_database_when_asked(tmp_path: Path) -> None:
    import os

    _repo(tmp_path)
    (tmp_path / "data.txt").write_text("password = hunter2\n")
    run_script(tmp_path, SCRIPT.format(factor=2, comment="c"), env={**os.environ, "ATO_RECORD_GIT_PATCH": "0"})
    with sqlite3.connect(tmp_path / "exp.db") as connection:
        payloads = b"".join(row[0] for row in connection.execute("SELECT payload FROM events"))
    assert b"hunter2" not in payloads and b"diff_sha256" in payloads  # the hash, not the text
