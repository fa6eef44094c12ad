"""A 2.1.7 user's unit tests run unchanged, under unittest and pytest, with Ato and the real 2.1.7.

The suite (tests/data/user_suite_2_1_7.py) touches ADict's helpers, ato.xyz, Scope's registry,
assign/apply and injection, ato.parser, HyperBand's positional signature and result logs, and
SQLLogger/SQLFinder's run objects, the way 2.1.7's users wrote them. The test runner's own
arguments (``-q``, test names) are not read as Ato's command line.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, reference_python

SUITE = ROOT / "tests" / "data" / "user_suite_2_1_7.py"


def _run(python: str, folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    shutil.copy(SUITE, folder / "test_user.py")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS")}
    return subprocess.run([python, "-m", *args], capture_output=True, text=True, cwd=folder, timeout=300, env=env)


@pytest.mark.parametrize("runner", [("unittest", "test_user", "-q"), ("pytest", "test_user.py", "-q", "-p", "no:cacheprovider")])
def test_the_users_suite_passes_with_ato(tmp_path: Path, runner: tuple[str, ...]) -> None:
    result = _run(sys.executable, tmp_path, *runner)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_same_suite_passes_with_the_real_2_1_7(tmp_path: Path) -> None:
    reference = reference_python()
    result = _run(reference, tmp_path, "unittest", "test_user", "-q")
    assert result.returncode == 0, result.stdout + result.stderr
