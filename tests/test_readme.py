"""Every Python example in the README runs, so the documentation cannot rot."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_readme_has_examples() -> None:
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_example_runs(code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["train.py"])
    exec(compile(code, str(README), "exec"), {"__name__": "__main__"})


def test_readme_commands_for_the_scope_example(tmp_path: Path) -> None:
    code = BLOCKS[2]
    assert "scale_lr" in code
    (tmp_path / "train.py").write_text(code)

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "train.py", *argv], cwd=tmp_path, capture_output=True, text=True)

    assert run().stdout.splitlines()[0] == "lr=0.001"
    out = run("high_lr", "batch_size=64", "scale_lr").stdout.splitlines()
    assert out == ["lr=0.02", "['defaults', 'high_lr', 'scale_lr']"]
    assert "(The Applying Order of Views)" in run("manual").stdout
    assert "did you mean 'high_lr'?" in run("hgh_lr").stderr


def test_demo_runs_from_a_fresh_folder(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        ["bash", str(README.parent / "examples" / "demo.sh")], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "lr=1.0 was set by: defaults (default) -> high_lr (named) -> scale_lr (lazy)" in result.stdout
    assert "best run by accuracy: 2" in result.stdout
    assert "scale_lr (lazy): 0.5 -> 1.0" in result.stdout  # ato replay 2 --key lr
    assert result.stdout.count("replay: exact") == 2
    assert "ok (" in result.stdout  # ato verify
    assert "lr: 0.1 [defaults (default)]  ->  0.2 [lr=0.2 (cli)]" in result.stdout  # ato diff 1 3
    assert "code: train_epoch changed (helper predict(), helper sigmoid())" in result.stdout
    # seeing and sharing: the code change, the best run, the curves, a paper table, a report
    assert "-    return 1 / (1 + np.exp(-z))" in result.stdout  # ato diff 1 3 --code
    assert "+    return 1 / (1 + np.exp(-np.clip(z, -5, 5)))" in result.stdout
    assert "accuracy best(max)" in result.stdout  # ato runs --metric accuracy:max
    assert "runs first differ at step 0" in result.stdout  # ato diff --plot
    assert "LR & Batch & Accuracy \\\\" in result.stdout and "\\begin{tabular}" in result.stdout  # ato export
    report = tmp_path / "demo-run" / "report.html"
    assert "wrote report.html" in result.stdout and report.read_text().count("<svg") == 2
