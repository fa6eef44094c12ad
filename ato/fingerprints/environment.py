"""The environment fingerprint of a run, recorded when each run starts.

Recorded: Python version and implementation, platform, every installed distribution and its
version, numpy/torch/CUDA/cuDNN versions, the GPU models and the NVIDIA driver where the script
has imported them (Ato never imports torch itself), torch's determinism and precision switches
("numerics"), environment variables that change numerics or determinism, and where the script
lives in a git work tree, its commit, whether it is dirty, and a hash and the size of the
uncommitted diff (``git diff HEAD``); the script that runs (its resolved path and the SHA-256 of
its content: :func:`script`) and the seeds of the generators it can see
(:func:`~ato.fingerprints.seeds.seeds`). The diff itself, where at most
:data:`~ato.fingerprints.sources.MAX_PATCH_BYTES`, is :func:`git_patch`, which the run stores
once per database as a ``source.recorded`` event named by that hash (``ato diff --code`` shows
the difference of two runs' patches).

What cannot change within a process (distributions, git state, the GPUs) is read once and cached;
the switches, variables, seeds and the script's content can (``torch.backends.cuda.matmul.allow_tf32
= True`` between two runs), so they are read again at every run's start.

Importing this module wraps ``random.seed`` (:func:`~ato.fingerprints.seeds.observe_seed_calls`)
so that a seed set after it is recorded by value; the wrapper calls the original unchanged.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import os
import platform
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ato.fingerprints.seeds import observe_seed_calls, seeds
from ato.fingerprints.sources import MAX_PATCH_BYTES

__all__ = [
    "NUMERICS_VARIABLES", "RELEVANT_VARIABLES", "environment", "environment_fingerprint", "git_patch", "numerics",
    "script",
]

# The logger imports this module before a script usually seeds: a seed set from then on is seen.
observe_seed_calls()

# Variables that change what a computation returns (kernels, reduction order, TF32).
NUMERICS_VARIABLES = (
    "CUBLAS_WORKSPACE_CONFIG",
    "NVIDIA_TF32_OVERRIDE",
    "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "TF_DETERMINISTIC_OPS",
)
RELEVANT_VARIABLES = ("PYTHONHASHSEED", "CUDA_VISIBLE_DEVICES", *NUMERICS_VARIABLES)

# torch's switches that change results, each read by the expression a user writes to set or read
# it (the diff names it so). A switch this torch lacks is left out; one it refuses to read (torch
# raises when the legacy TF32 flags and the new fp32_precision API were mixed) is recorded as None.
_SWITCHES: tuple[tuple[str, Callable[[Any], Any]], ...] = (
    ("torch.are_deterministic_algorithms_enabled()", lambda t: t.are_deterministic_algorithms_enabled()),
    ("torch.is_deterministic_algorithms_warn_only_enabled()",
     lambda t: t.is_deterministic_algorithms_warn_only_enabled()),
    ("torch.utils.deterministic.fill_uninitialized_memory", lambda t: t.utils.deterministic.fill_uninitialized_memory),
    ("torch.backends.cudnn.enabled", lambda t: t.backends.cudnn.enabled),
    ("torch.backends.cudnn.deterministic", lambda t: t.backends.cudnn.deterministic),
    ("torch.backends.cudnn.benchmark", lambda t: t.backends.cudnn.benchmark),
    ("torch.backends.cudnn.allow_tf32", lambda t: t.backends.cudnn.allow_tf32),
    ("torch.backends.cuda.matmul.allow_tf32", lambda t: t.backends.cuda.matmul.allow_tf32),
    ("torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction",
     lambda t: t.backends.cuda.matmul.allow_fp16_reduced_precision_reduction),
    ("torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction",
     lambda t: t.backends.cuda.matmul.allow_bf16_reduced_precision_reduction),
    ("torch.backends.cuda.matmul.allow_fp16_accumulation", lambda t: t.backends.cuda.matmul.allow_fp16_accumulation),
    ("torch.get_float32_matmul_precision()", lambda t: t.get_float32_matmul_precision()),
    ("torch.backends.fp32_precision", lambda t: t.backends.fp32_precision),
    ("torch.backends.cuda.matmul.fp32_precision", lambda t: t.backends.cuda.matmul.fp32_precision),
    ("torch.backends.cudnn.conv.fp32_precision", lambda t: t.backends.cudnn.conv.fp32_precision),
    ("torch.backends.cudnn.rnn.fp32_precision", lambda t: t.backends.cudnn.rnn.fp32_precision),
    ("torch.backends.mkldnn.matmul.fp32_precision", lambda t: t.backends.mkldnn.matmul.fp32_precision),
    ("torch.backends.mkldnn.conv.fp32_precision", lambda t: t.backends.mkldnn.conv.fp32_precision),
    ("torch.backends.mkldnn.deterministic", lambda t: t.backends.mkldnn.deterministic),
    ("torch.backends.cuda.flash_sdp_enabled()", lambda t: t.backends.cuda.flash_sdp_enabled()),
    ("torch.backends.cuda.mem_efficient_sdp_enabled()", lambda t: t.backends.cuda.mem_efficient_sdp_enabled()),
    ("torch.backends.cuda.math_sdp_enabled()", lambda t: t.backends.cuda.math_sdp_enabled()),
    ("torch.backends.cuda.cudnn_sdp_enabled()", lambda t: t.backends.cuda.cudnn_sdp_enabled()),
    ("torch.backends.cuda.fp16_bf16_reduction_math_sdp_allowed()",
     lambda t: t.backends.cuda.fp16_bf16_reduction_math_sdp_allowed()),
    ("torch.backends.cuda.preferred_linalg_library()", lambda t: t.backends.cuda.preferred_linalg_library()),
    ("torch.backends.cuda.preferred_blas_library()", lambda t: t.backends.cuda.preferred_blas_library()),
    ("torch.get_default_dtype()", lambda t: t.get_default_dtype()),
    ("torch.get_num_threads()", lambda t: t.get_num_threads()),  # intra-op split: CPU reduction order
)


def environment() -> dict[str, Any]:
    """What this run runs on: the process's cached part, with the switches and variables read now."""
    return {
        **_process_environment(),
        "frameworks": _frameworks(),
        "numerics": numerics(),
        "variables": {name: os.environ[name] for name in RELEVANT_VARIABLES if name in os.environ},
        "script": script(),
        "seeds": seeds(),
    }


def script() -> dict[str, Any]:
    """The script that runs: ``sys.argv[0]`` resolved (the ``__main__`` module's file under
    ``python -c`` or an embedding host) and the SHA-256 of its content now; each None where there
    is no such file (an interactive session, a notebook)."""
    name = sys.argv[0] if sys.argv else ""
    if name in ("", "-c", "-m"):
        name = getattr(sys.modules.get("__main__"), "__file__", None) or ""
    if not name:
        return {"path": None, "sha256": None}
    path = Path(name).resolve()
    try:
        digest: str | None = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:  # gone, a directory (python DIR), or unreadable
        digest = None
    return {"path": str(path), "sha256": digest}


def _cache_clear() -> None:
    """Forget the cached part (a benchmark measures a first run's cost with it)."""
    _process_environment.cache_clear()
    _torch_platform.cache_clear()
    _git.cache_clear()


environment.cache_clear = _cache_clear  # type: ignore[attr-defined]  # as when environment() was an lru_cache


def environment_fingerprint() -> tuple[str, dict[str, Any]]:
    """``(sha256, detail)`` of :func:`environment`."""
    text = json.dumps(environment(), sort_keys=True, default=str)  # e.g. torch's TorchVersion
    return hashlib.sha256(text.encode()).hexdigest(), json.loads(text)


def numerics() -> dict[str, Any]:
    """torch's determinism and precision switches as they are now; empty where the script has
    not imported torch (Ato never imports it)."""
    torch = sys.modules.get("torch")
    if torch is None or not hasattr(torch, "backends"):  # absent, or half-imported
        return {}
    found: dict[str, Any] = {}
    for name, read in _SWITCHES:
        try:
            value = read(torch)
        except AttributeError:
            continue  # not in this torch
        except Exception:  # torch refuses to read it (mixed legacy and new TF32 APIs)
            value = None
        found[name] = value if value is None or isinstance(value, (bool, int, float, str)) else str(value)
    return found


@functools.lru_cache(maxsize=1)
def _process_environment() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "packages": _packages(),
        "git": _git_state(),
    }


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
    if numpy is not None and hasattr(numpy, "__version__"):
        found["numpy"] = numpy.__version__
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "version"):
        found.update(_torch_platform(torch))
    return found


@functools.lru_cache(maxsize=1)
def _torch_platform(torch: Any) -> dict[str, Any]:
    """torch's build, the GPUs and the driver: fixed for the process once torch is imported."""
    found: dict[str, Any] = {"torch": str(torch.__version__), "cuda": getattr(torch.version, "cuda", None)}
    try:
        found["cudnn"] = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
        found["cuda_available"] = torch.cuda.is_available()
        if found["cuda_available"]:
            count = torch.cuda.device_count()
            found["gpus"] = [torch.cuda.get_device_name(i) for i in range(count)]
            found["gpu_capabilities"] = [".".join(map(str, torch.cuda.get_device_capability(i))) for i in range(count)]
            found["gpu_driver"] = _nvidia_driver()
    except Exception as exc:  # a broken CUDA setup is itself worth recording
        found["cuda_error"] = f"{type(exc).__name__}: {exc}"
    return found


def _nvidia_driver() -> str | None:
    """The NVIDIA kernel driver's version (None on other GPUs, or where it cannot be read)."""
    try:
        text = Path("/proc/driver/nvidia/version").read_text()
        match = re.search(r"Kernel Module(?: for \S+)?\s+(\d[\d.]*)", text)
        if match:
            return match.group(1)
    except OSError:
        pass
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10, check=True).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return None
    return out[0] if out else None


PATCH_VARIABLE = "ATO_RECORD_GIT_PATCH"
"""Set to ``0`` to keep the patch of a dirty tree out of the database (it may hold what a
locally edited file should not share: ``ato merge`` and ``ato report`` carry it). Its hash is
recorded either way."""


def git_patch() -> str | None:
    """``git diff HEAD`` of the script's work tree where it is dirty and the patch at most
    :data:`MAX_PATCH_BYTES` (read with the rest of the git state, once per process); None where
    :data:`PATCH_VARIABLE` is ``0``."""
    if os.environ.get(PATCH_VARIABLE, "").strip() in ("0", "false", "no", "off"):
        return None
    return _git()[1]


def _git_state() -> dict[str, Any] | None:
    return _git()[0]


@functools.lru_cache(maxsize=1)
def _git() -> tuple[dict[str, Any] | None, str | None]:
    script = Path(sys.argv[0]).resolve().parent if sys.argv and sys.argv[0] not in ("", "-c", "-m") else Path.cwd()

    def git(*args: str) -> str:
        # Decoded leniently (a patch of a Latin-1 file must not lose the git state), newlines
        # translated as text=True did, so the diff's hash stays what earlier runs recorded.
        out = subprocess.run(["git", *args], cwd=script, capture_output=True, timeout=10, check=True).stdout
        return out.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")

    try:
        commit = git("rev-parse", "HEAD").strip()
    except (OSError, subprocess.SubprocessError):
        return None, None  # not a git work tree, or no git
    try:
        status = git("status", "--porcelain")
        diff = git("diff", "HEAD")
    except (OSError, subprocess.SubprocessError):
        status, diff = "", ""
    size = len(diff.encode())
    state = {
        "commit": commit,
        "dirty": bool(status.strip()),
        "diff_sha256": hashlib.sha256(diff.encode()).hexdigest() if diff else None,
        "diff_bytes": size,
    }
    return state, (diff if diff and size <= MAX_PATCH_BYTES else None)
