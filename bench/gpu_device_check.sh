#!/usr/bin/env bash
# The GPU check of issue 13, in one script that ends within about 8 minutes on an H100/H200:
# Ato's dependencies that the GPU machine lacks, the numerics environment that a CUDA run
# records, the correctness tests on the GPU (tests/tracking/test_cuda.py: CUDA values logged and
# fingerprinted equal the host's; the numerics tests), then bench/gpu_loop.py. It ends with one
# line, "GPU CHECK: PASS" or "GPU CHECK: FAIL (...)", and exits non-zero on FAIL.
#
# The GPU machine has no network: its missing Python packages travel as wheels in .whl/.
#   1. here, with the network, once:      bash bench/gpu_device_check.sh fetch
#   2. there (the device tool's run, with carry [".whl"] and timeout_s 540):
#                                         bash bench/gpu_device_check.sh
# Step 2's output also lands in $OUT/gpu_loop.txt, $OUT/gpu_tests.txt and $OUT/gpu_check.txt
# where $OUT is set.
# Extra arguments go to bench/gpu_loop.py (for example --steps 1000).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

# What the GPU machine's image already holds (its package list); the other dependencies travel.
ON_DEVICE="numpy pyyaml rich xxhash"

if [ "${1:-}" = fetch ]; then
    set -e
    PY=${PYTHON:-.venv/bin/python}
    [ -x "$PY" ] || PY=python3
    exclude=$(git rev-parse --git-path info/exclude)
    mkdir -p "$(dirname "$exclude")"
    grep -qx '/.whl/' "$exclude" 2>/dev/null || echo '/.whl/' >>"$exclude"
    mkdir -p .whl
    # pyproject's dependencies less those on the device, at the versions installed here
    pins=$("$PY" - "$ON_DEVICE" <<'EOF'
import importlib.metadata, re, sys, tomllib
on_device = set(sys.argv[1].split())
deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]
for dep in deps:
    name = re.match(r"[A-Za-z0-9_.-]+", dep).group(0)
    if name.lower() not in on_device:
        print(f"{name}=={importlib.metadata.version(name)}")
EOF
)
    echo "fetching for the GPU machine (Python 3.12, x86-64): $pins"
    # shellcheck disable=SC2086
    "$PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d .whl $pins
    ls -l .whl
    echo 'now run on the device: bash bench/gpu_device_check.sh   (carry [".whl"], timeout_s 540)'
    exit 0
fi

OUT=${OUT:-/tmp/ato-gpu-check}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
if compgen -G ".whl/*.whl" >/dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        || { echo "installing .whl/ failed"; exit 1; }
    export PYTHONPATH=/tmp/site:$ROOT
else
    export PYTHONPATH=$ROOT
fi
"$PY" -c 'import importlib.metadata as m, ato; print("ato", ato.__version__, *(f"{n} {m.version(n)}" for n in ("msgspec", "aiosqlite", "anyio", "numpy", "xxhash")))' \
    || { echo "Ato's dependencies are missing here: run 'bash bench/gpu_device_check.sh fetch' on the developer machine and carry .whl"; exit 1; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true

CHECK=$(mktemp -d)
export CHECK
{
    failed=0
    echo "== numerics environment of a CUDA run"
    (cd "$CHECK" && timeout 120 "$PY" - <<'EOF'
import json, os
import torch
from ato import SQLFinder, SQLLogger

folder = os.environ["CHECK"]
config = {"experiment": {"project_name": "gpu-check", "sql": {"db_path": f"sqlite:///{folder}/check.db"}}}
with SQLLogger(config) as logger:
    logger.run()
    logger.log_metric("loss", float(torch.ones(2, device="cuda").sum()), 0)
    logger.finish()
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.benchmark = True
    logger.run()
    logger.finish()
with SQLFinder(f"{folder}/check.db") as finder:
    first, second = (next(f.detail for f in finder.get_fingerprints(run) if f.trace_id == "environment") for run in (1, 2))
print("frameworks:", json.dumps(first["frameworks"]))
print("numerics (run 1):", json.dumps(first["numerics"], indent=1))
changed = {k: (first["numerics"][k], v) for k, v in second["numerics"].items() if first["numerics"].get(k) != v}
print("changed before run 2:", changed)
frameworks = first["frameworks"]
assert frameworks["cuda_available"] and frameworks["gpus"] and frameworks["gpu_driver"], frameworks
assert changed["torch.backends.cuda.matmul.allow_tf32"] == (False, True), changed
print("numerics environment: ok")
EOF
    ) || failed=1
    echo "== ato diff of those runs"
    timeout 60 "$PY" -m ato diff 1 2 --db "sqlite:///$CHECK/check.db" || failed=1
    exit "$failed"
} 2>&1 | tee "$OUT/gpu_check.txt"
environment_status=${PIPESTATUS[0]}

# Correctness before timings: a bench that runs long must not cost the check its verdict.
echo "== correctness on the GPU: tests/tracking/test_cuda.py and the numerics tests"
timeout 240 "$PY" -m pytest tests/tracking/test_cuda.py tests/fingerprints/test_numerics_environment.py \
    -q -rs -p no:cacheprovider >"$OUT/gpu_tests.txt" 2>&1
tests_status=$?
if [ "$tests_status" -eq 0 ] && grep -q " passed" "$OUT/gpu_tests.txt" && ! grep -q "skipped" "$OUT/gpu_tests.txt"; then
    tail -3 "$OUT/gpu_tests.txt"
    tests_verdict=PASS
else
    tail -60 "$OUT/gpu_tests.txt"  # the failures
    if [ "$tests_status" -eq 0 ]; then  # a skip here means no CUDA device: a failure too
        tests_verdict="FAIL (tests skipped: no CUDA device; see $OUT/gpu_tests.txt)"
    else
        tests_verdict="FAIL (pytest exit $tests_status; see $OUT/gpu_tests.txt)"
    fi
fi
echo "GPU TESTS: $tests_verdict" | tee -a "$OUT/gpu_check.txt"

echo "== bench/gpu_loop.py"
timeout 330 "$PY" bench/gpu_loop.py "$@" 2>&1 | tee "$OUT/gpu_loop.txt"
bench_status=${PIPESTATUS[0]}

problems=()
[ "$environment_status" -eq 0 ] || problems+=("numerics environment check exit $environment_status")
[ "$tests_verdict" = PASS ] || problems+=("correctness tests: $tests_verdict")
[ "$bench_status" -eq 0 ] || problems+=("bench/gpu_loop.py exit $bench_status")
if [ ${#problems[@]} -eq 0 ]; then
    echo "GPU CHECK: PASS" | tee -a "$OUT/gpu_check.txt"
    exit 0
fi
joined=$(printf '%s; ' "${problems[@]}")
echo "GPU CHECK: FAIL (${joined%; })" | tee -a "$OUT/gpu_check.txt"
exit 1
