"""Shared fixtures: a clean environment and a real database file per test."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from ato.config.adict import ADict

# Shared, noisy machines: no per-example deadline (speed is measured in bench/, not here).
settings.register_profile("ato", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ato")

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fingerprints and the database default read the environment: start each test from a known one."""
    monkeypatch.delenv("ATO_DB", raising=False)
    yield


@pytest.fixture(autouse=True)
def every_database_verifies(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test, ``ato verify`` must pass on every database it left behind."""
    yield
    folder = request.node.funcargs.get("tmp_path")
    if folder is None or request.node.get_closest_marker("broken_database") or request.node.get_closest_marker("raw_log"):
        return
    from ato.projections.maintenance import verify_database

    for path in sorted(Path(folder).rglob("*.db")):
        report = verify_database(path)
        assert report.problems == [], f"ato verify {path}: {report.problems}"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "experiments.db"


@pytest.fixture
def config(db: Path) -> ADict:
    return ADict(
        experiment=ADict(project_name="proj", sql=ADict(db_path=f"sqlite:///{db}")),
        lr=0.001,
        batch_size=32,
        model="resnet50",
    )


def reference_python() -> str:
    """The Python that has the real ato 2.1.7 (``make test`` builds it in .venv-ref, and passes it
    as ATO_REFERENCE_PYTHON); skips the calling test where there is none."""
    found = os.environ.get("ATO_REFERENCE_PYTHON") or str(ROOT / ".venv-ref" / "bin" / "python")
    if not Path(found).exists():
        pytest.skip("needs the real ato 2.1.7: `make test` installs it in .venv-ref (ATO_REFERENCE_PYTHON)")
    return found


def run_script(tmp_path: Path, script: str, *argv: str, timeout: float = 120, check: bool = True,
               env: dict[str, str] | None = None, python: str = sys.executable) -> subprocess.CompletedProcess[str]:
    """Write ``script`` to ``tmp_path/script.py`` and run it in a fresh interpreter (``python``:
    another one, such as :func:`reference_python`, runs without this checkout's PYTHONPATH)."""
    path = tmp_path / "script.py"
    path.write_text(textwrap.dedent(script))
    base = os.environ if python == sys.executable else {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [python, str(path), *argv],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=timeout,
        env={**base, **(env or {})},
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def ato(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``ato ARGS`` in this process, in ``cwd``; its exit status and output, as a subprocess's."""
    from ato.cli import main

    out, err = io.StringIO(), io.StringIO()
    previous = Path.cwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = main(list(args))
            except SystemExit as exc:  # argparse: --help, usage errors
                status = exc.code if isinstance(exc.code, int) else 1
    finally:
        os.chdir(previous)
    return subprocess.CompletedProcess(["ato", *args], status, out.getvalue(), err.getvalue())
