"""The environment fingerprint of a run, taken once per process when its first run starts.

Recorded: Python version and implementation, platform, every installed distribution and its
version, numpy/torch/CUDA/cuDNN versions where the script has imported them (Ato never imports
torch itself), environment variables that change numerics or determinism, and where the script
lives in a git work tree, its commit, whether it is dirty, and a hash of the uncommitted diff.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["RELEVANT_VARIABLES", "environment", "environment_fingerprint"]

RELEVANT_VARIABLES = (
    "PYTHONHASHSEED",
    "CUBLAS_WORKSPACE_CONFIG",
    "CUDA_VISIBLE_DEVICES",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NVIDIA_TF32_OVERRIDE",
    "TF_DETERMINISTIC_OPS",
)


@functools.lru_cache(maxsize=1)
def environment() -> dict[str, Any]:
    """What this process runs on (cached: it does not change within a process)."""
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "packages": _packages(),
        "frameworks": _frameworks(),
        "variables": {name: os.environ[name] for name in RELEVANT_VARIABLES if name in os.environ},
        "git": _git_state(),
    }


def environment_fingerprint() -> tuple[str, dict[str, Any]]:
    """``(sha256, detail)`` of :func:`environment`."""
    text = json.dumps(environment(), sort_keys=True, default=str)  # e.g. torch's TorchVersion
    return hashlib.sha256(text.encode()).hexdigest(), json.loads(text)


def _packages() -> dict[str, str]:
    packages = {}
    for dist in importlib.metadata.distributions():
        name = dist.name
        if name:
            packages[name.lower()] = dist.version
    return dict(sorted(packages.items()))


def _frameworks() -> dict[str, Any]:
    found: dict[str, Any] = {}
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        found["numpy"] = numpy.__version__
    torch = sys.modules.get("torch")
    if torch is not None:
        found["torch"] = str(torch.__version__)
        found["cuda"] = getattr(torch.version, "cuda", None)
        try:
            found["cudnn"] = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
            found["cuda_available"] = torch.cuda.is_available()
            if found["cuda_available"]:
                found["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        except Exception as exc:  # a broken CUDA setup is itself worth recording
            found["cuda_error"] = f"{type(exc).__name__}: {exc}"
    return found


def _git_state() -> dict[str, Any] | None:
    script = Path(sys.argv[0]).resolve().parent if sys.argv and sys.argv[0] not in ("", "-c", "-m") else Path.cwd()

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=script, capture_output=True, text=True, timeout=10, check=True
        ).stdout

    try:
        commit = git("rev-parse", "HEAD").strip()
    except (OSError, subprocess.SubprocessError):
        return None  # not a git work tree, or no git
    try:
        status = git("status", "--porcelain")
        diff = git("diff", "HEAD")
    except (OSError, subprocess.SubprocessError):
        status, diff = "", ""
    return {
        "commit": commit,
        "dirty": bool(status.strip()),
        "diff_sha256": hashlib.sha256(diff.encode()).hexdigest() if diff else None,
    }
