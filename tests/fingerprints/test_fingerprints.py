"""Code, runtime and environment fingerprints, and the queries over them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from ato.config.scope import Scope
from ato.fingerprints.code import code_fingerprint
from ato.fingerprints.environment import environment_fingerprint
from ato.fingerprints.runtime import RuntimeRecord, first_divergence, runtime_digest
from tests.conftest import ato, run_script

# Pairs of function sources: (name, a, b, same_fingerprint)
CORPUS = [
    ("comments", "def f(x):\n    y = x + 1\n    return y\n",
     "def f(x):\n    # add one\n    y = x + 1  # here\n    return y\n", True),
    ("docstring", "def f(x):\n    return x * 2\n", 'def f(x):\n    """Double."""\n    return x * 2\n', True),
    ("whitespace", "def f(x):\n    return x*2\n", "def f( x ):\n\n    return   x * 2\n", True),
    ("function name", "def f(x):\n    return x\n", "def completely_different(x):\n    return x\n", True),
    ("decorator", "def f(x):\n    return x\n", "@staticmethod\ndef f(x):\n    return x\n", True),
    ("local rename", "def f(model, x):\n    out = model(x)\n    return out\n",
     "def f(model,x):\n    result=model(x)\n    return result\n", True),
    ("parameter rename", "def f(a, b):\n    return a - b\n", "def f(left, right):\n    return left - right\n", True),
    ("import order", "def f():\n    from os import path, sep\n    return path, sep\n",
     "def f():\n    from os import sep, path\n    return path, sep\n", True),
    ("type hints", "def f(x):\n    return x\n", "def f(x: int) -> int:\n    return x\n", True),
    ("operator", "def f(x):\n    return x + 1\n", "def f(x):\n    return x - 1\n", False),
    ("constant", "def f(x):\n    return x * 2\n", "def f(x):\n    return x * 3\n", False),
    ("call", "def f(model, x):\n    return model(x)\n", "def f(model, x):\n    return model.backbone(x)\n", False),
    ("control flow", "def f(x):\n    return x if x > 0 else 0\n", "def f(x):\n    return x if x >= 0 else 0\n", False),
    ("extra statement", "def f(x):\n    return x\n", "def f(x):\n    x = x * 2\n    return x\n", False),
    ("swapped arguments", "def f(a, b):\n    return a - b\n", "def f(a, b):\n    return b - a\n", False),
    ("global vs local", "def f(x):\n    return model(x)\n", "def f(model, x):\n    return model(x)\n", False),
]

FINGERPRINT_CORPUS = """
import json, sys, importlib.util
from ato.fingerprints.code import code_fingerprint
out = {}
for path in sys.argv[1:]:
    spec = importlib.util.spec_from_file_location(path.replace('/', '_').replace('.', '_'), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fn = [v for k, v in vars(module).items() if callable(v) and not k.startswith('_')][-1]
    out[path] = code_fingerprint(fn)[0]
print(json.dumps(out))
"""


def _corpus_fingerprints(tmp_path: Path, seed: str) -> dict[str, str]:
    paths = []
    for index, (_, a, b, _) in enumerate(CORPUS):
        for side, source in (("a", a), ("b", b)):
            path = tmp_path / f"case{index}{side}.py"
            path.write_text(source)
            paths.append(str(path))
    result = subprocess.run(
        [sys.executable, "-c", FINGERPRINT_CORPUS, *paths],
        capture_output=True, text=True, check=True, env={**os.environ, "PYTHONHASHSEED": seed},
    )
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_code_fingerprints_follow_logic_not_cosmetics_across_processes(tmp_path: Path) -> None:
    first = _corpus_fingerprints(tmp_path, "0")
    assert _corpus_fingerprints(tmp_path, "12345") == first  # stable across processes
    for index, (name, _, _, same) in enumerate(CORPUS):
        a, b = first[str(tmp_path / f"case{index}a.py")], first[str(tmp_path / f"case{index}b.py")]
        assert (a == b) is same, name


def test_seed_fingerprint_examples() -> None:
    scope = Scope()

    @scope.trace(trace_id="train_step")
    @scope
    def train_v1(config):  # type: ignore[no-untyped-def]
        loss = model(data)  # noqa: F821
        return loss

    @scope.trace(trace_id="train_step")
    @scope
    def train_v2(config):  # type: ignore[no-untyped-def]
        # Added comments
        loss = model(data)  # Compute loss  # noqa: F821
        return loss

    @scope.trace(trace_id="train_step")
    @scope
    def completely_different_name(config):  # type: ignore[no-untyped-def]
        loss=model(data)  # Different whitespace  # noqa: E225, F821
        return loss

    @scope.trace(trace_id="train_step")
    @scope
    def train_v3(config):  # type: ignore[no-untyped-def]
        loss = model(data) * 2  # ← Logic changed!  # noqa: F821
        return loss

    prints = [code_fingerprint(f)[0] for f in (train_v1, train_v2, completely_different_name, train_v3)]
    assert prints[0] == prints[1] == prints[2] != prints[3]

    # Original implementation
    @scope.trace(trace_id='forward_pass')
    @scope
    def forward(model, x):  # type: ignore[no-untyped-def]
        out = model(x)
        return out

    original = forward

    # Safe refactoring: Added comments, changed variable name, different whitespace
    @scope.trace(trace_id='forward_pass')
    @scope
    def forward(model,x):  # type: ignore[no-untyped-def]  # noqa: E231, F811
        # Forward pass through model
        result=model(x)  # No spaces  # noqa: E225
        return result

    safe = forward

    # Unsafe refactoring: Logic changed
    @scope.trace(trace_id='forward_pass')
    @scope
    def forward(model, x):  # type: ignore[no-untyped-def]  # noqa: F811
        features = model.backbone(x)  # Now calling backbone + head separately!
        logits = model.head(features)
        return logits

    assert code_fingerprint(original)[0] == code_fingerprint(safe)[0] != code_fingerprint(forward)[0]
    assert original(lambda x: x + 1, 1) == 2  # @scope on a function without `config` still runs


def helper_double(x):  # type: ignore[no-untyped-def]
    return x * 2


def test_helpers_the_function_calls_are_folded_in(tmp_path: Path) -> None:
    def step(x):  # type: ignore[no-untyped-def]
        return helper_double(x) + 1

    fingerprint, detail = code_fingerprint(step)
    assert set(detail["calls"]) == {"helper_double"}
    alone, alone_detail = code_fingerprint(step, follow_calls=False)
    assert alone == detail["own"] and "calls" not in alone_detail and alone != fingerprint


def test_runtime_digests_of_arrays_follow_dtype_shape_and_bytes() -> None:
    a = np.arange(12, dtype=np.float32)
    assert runtime_digest(a) == runtime_digest(a.copy())
    assert runtime_digest(a) != runtime_digest(a.astype(np.float64))
    assert runtime_digest(a) != runtime_digest(a.reshape(3, 4))
    b = a.copy()
    b[7] = np.nextafter(b[7], np.float32(100))
    assert runtime_digest(a) != runtime_digest(b)
    assert runtime_digest(a.reshape(3, 4).T) == runtime_digest(np.ascontiguousarray(a.reshape(3, 4).T))


def test_runtime_digests_of_plain_values() -> None:
    assert len({runtime_digest(v) for v in (1, 1.0, True, "1", b"1", None, [1], (1,), {1})}) == 9
    assert runtime_digest(0.0) != runtime_digest(-0.0)
    assert runtime_digest({"a": 1, "b": 2}) == runtime_digest({"b": 2, "a": 1})
    assert runtime_digest({"a": 1}) != runtime_digest({"a": 2})

    @dataclass
    class Out:
        logits: list[float]

    assert runtime_digest(Out([1.0])) == runtime_digest(Out([1.0])) != runtime_digest(Out([2.0]))
    cyclic: list[object] = [1]
    cyclic.append(cyclic)
    assert runtime_digest(cyclic) == runtime_digest(cyclic)


def test_runtime_digests_of_torch_tensors() -> None:
    torch = pytest.importorskip("torch")
    t = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    assert runtime_digest(t) == runtime_digest(t.clone())
    assert runtime_digest(t) != runtime_digest(t.to(torch.float64))
    assert runtime_digest(t) != runtime_digest(t.reshape(3, 2))
    assert runtime_digest(t.to(torch.bfloat16)) != runtime_digest(t.to(torch.float16))
    grad = torch.ones(2, requires_grad=True) * 2
    assert runtime_digest(grad) == runtime_digest(torch.full((2,), 2.0))
    assert runtime_digest(torch.tensor(3.0)) == runtime_digest(torch.tensor(3.0))


def test_runtime_digests_are_stable_across_processes() -> None:
    code = (
        "import numpy as np; from ato.fingerprints.runtime import runtime_digest;"
        "print(runtime_digest({'p': np.linspace(0, 1, 50, dtype=np.float16), 's': {'x', 'y'}, 'f': 0.1}))"
    )
    outputs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       env={**os.environ, "PYTHONHASHSEED": seed}).stdout
        for seed in ("0", "1", "2")
    }
    assert len(outputs) == 1


def test_runtime_trace_returns_the_result_and_calls_init_and_inspect() -> None:
    calls = []
    scope = Scope()

    @scope.runtime_trace(trace_id="predictions", init_fn=lambda: calls.append("init"), inspect_fn=lambda p: p[:2])
    def evaluate(n):  # type: ignore[no-untyped-def]
        return list(range(n))

    assert evaluate(5) == [0, 1, 2, 3, 4]
    assert calls == ["init"]


def test_runtime_record_and_first_divergence() -> None:
    record = RuntimeRecord()
    for value in ("a", "b", "c"):
        record.add(runtime_digest(value))
    assert record.detail()["calls"] == 3 and len(record.detail()["digests"]) == 3
    assert first_divergence(["1", "2", "3"], ["1", "2", "3"]) is None
    assert first_divergence(["1", "2", "3"], ["1", "x", "3"]) == 1
    assert first_divergence(["1", "2"], ["1", "2", "3"]) == 2


def test_environment_fingerprint_records_what_matters(tmp_path: Path) -> None:
    digest, detail = environment_fingerprint()
    assert len(digest) == 64
    assert detail["python"] == ".".join(map(str, sys.version_info[:3]))
    assert "numpy" in detail["packages"] and "msgspec" in detail["packages"]
    result = run_script(tmp_path, """
        import json, subprocess
        subprocess.run(['git', 'init', '-q'], check=True)
        subprocess.run(['git', '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '--allow-empty', '-m', 'x'], check=True)
        open('dirty.txt', 'w').write('x')
        import os
        os.environ['PYTHONHASHSEED'] = '7'
        from ato.fingerprints.environment import environment
        print(json.dumps(environment()))
    """)
    env = json.loads(result.stdout)
    assert len(env["git"]["commit"]) == 40 and env["git"]["dirty"] is True
    assert env["variables"] == {"PYTHONHASHSEED": "7"}
    assert "torch" not in env["frameworks"]  # never imported by Ato itself


TRACKED = """
import random
import numpy as np
from ato.scope import Scope
from ato import SQLLogger, SQLFinder

scope = Scope()

@scope.observe(default=True)
def defaults(config):
    config.seed = 0
    config.lr = 0.1
    config.experiment = {'project_name': 'fp'}

@scope.observe()
def fast(config):
    config.lr = 0.5

def helper(x):
    return x * 2

@scope.runtime_trace(trace_id='predictions')
def predict(w, x):
    return helper(x @ w)

@scope.trace(trace_id='train_step')
def train_step(w, x, lr):
    return w - lr * helper(x.mean(axis=0))

@scope
def main(config):
    rng = np.random.default_rng(config.seed)
    with SQLLogger(config) as logger:
        logger.run()
        w = np.zeros(3)
        for step in range(6):
            x = rng.normal(size=(4, 3))
            if step >= 3 and config.get('drift'):
                x = x + 1e-9
            w = train_step(w, x, config.lr)
            predict(w, x)
            logger.log_metric('loss', float(np.abs(w).sum()) + (random.random() if config.get('noisy') else 0), step)

main()
"""


def test_diff_names_each_cause(tmp_path: Path) -> None:
    run_script(tmp_path, TRACKED)                           # 1: baseline
    run_script(tmp_path, TRACKED, "seed=1")                 # 2: changed seed (a CLI value)
    run_script(tmp_path, TRACKED, "fast")                   # 3: changed view
    (tmp_path / "script.py").write_text(textwrap.dedent(TRACKED).replace("return x * 2", "return x * 3"))
    subprocess.run([sys.executable, "script.py"], cwd=tmp_path, check=True)  # 4: changed helper
    run_script(tmp_path, TRACKED, "drift=True")             # 5: same start, outputs drift at call 3

    seed = json.loads(ato("diff", "1", "2", "--json", cwd=tmp_path).stdout)
    assert [(c["key"], c["a"], c["b"], c["set_by_b"]) for c in seed["config"]] == [("seed", 0, 1, "seed=1 (cli)")]
    assert seed["code"] == [] and seed["environment"] == []
    assert seed["runtime"][0]["first_divergent_call"] == 0
    assert seed["metrics"][0]["first_difference"]["step"] == 0

    view = json.loads(ato("diff", "1", "3", "--json", cwd=tmp_path).stdout)
    assert [(c["key"], c["set_by_a"], c["set_by_b"]) for c in view["config"]] == [
        ("lr", "defaults (default)", "fast (named)")
    ]

    helper = json.loads(ato("diff", "1", "4", "--json", cwd=tmp_path).stdout)
    assert helper["config"] == []
    assert helper["code"][0]["trace_id"] == "train_step" and helper["code"][0]["changed"] == ["helper helper()"]

    drift = json.loads(ato("diff", "1", "5", "--json", cwd=tmp_path).stdout)
    assert drift["runtime"][0]["first_divergent_call"] == 3
    assert drift["metrics"][0]["first_difference"]["step"] == 3

    text = ato("diff", "1", "4", cwd=tmp_path)
    assert text.returncode == 0
    assert "code: train_step changed (helper helper())" in text.stdout


def test_diff_points_at_non_determinism_when_only_metrics_differ(tmp_path: Path) -> None:
    script = TRACKED.replace("config.seed = 0", "config.seed = 0\n    config.noisy = True")
    run_script(tmp_path, script)
    run_script(tmp_path, script)
    report = json.loads(ato("diff", "1", "2", "--json", cwd=tmp_path).stdout)
    assert report["config"] == [] and report["code"] == [] and report["runtime"] == []
    assert "points at non-determinism" in report["verdict"]


def test_trace_statistics_and_similar_runs_by_trace(tmp_path: Path) -> None:
    run_script(tmp_path, TRACKED)
    run_script(tmp_path, TRACKED)
    (tmp_path / "script.py").write_text(textwrap.dedent(TRACKED).replace("return w - lr *", "return w + lr *"))
    subprocess.run([sys.executable, "script.py"], cwd=tmp_path, check=True)
    from ato import SQLFinder

    with SQLFinder(f"sqlite:///{tmp_path / 'experiments.db'}") as finder:
        stats = finder.get_trace_statistics("fp", trace_id="train_step")
        assert stats["static_trace_versions"] == 2 and stats["runs"] == 3
        assert finder.get_trace_statistics("fp", trace_id="predictions")["runtime_trace_versions"] == 2
        assert [r.id for r in finder.find_similar_runs_by_trace(1, "train_step")] == [2]
        assert [r.id for r in finder.find_similar_runs_by_trace(3, "train_step")] == []
        # ato 2.1.7's names and answers: trace_type=, project_name in the statistics, and no
        # similar runs (rather than an error) for a run that does not exist.
        assert [r.id for r in finder.find_similar_runs_by_trace(1, "train_step", trace_type="static")] == [2]
        assert stats["project_name"] == "fp"
        assert finder.find_similar_runs(run_id=123) == [] and finder.find_similar_runs_by_trace(123, "x") == []


RUNTIME_VALUES = """
import json, sys
import numpy as np
from ato.fingerprints.runtime import runtime_digest

rng = np.random.default_rng(7)
values = [
    {"b": 1, "a": [1.5, "x"], "c": {3, 1, 2}},         # dict and set order: by digest, not by hash seed
    rng.standard_normal(3 * 2**17),                     # 3 MiB: chunk digests hashed in parallel
    {"logits": rng.standard_normal((64, 1000)), "ids": frozenset({"p", "q"})},
]
print(json.dumps([runtime_digest(value) for value in values]))
"""


def test_runtime_digests_are_the_same_in_every_process(tmp_path: Path) -> None:
    """DESIGN.md: runtime fingerprints are deterministic across processes (hash seeds differ;
    large arrays are hashed as chunk digests on several threads)."""
    runs = [
        run_script(tmp_path, RUNTIME_VALUES, env={"PYTHONHASHSEED": seed}).stdout for seed in ("0", "4242", "random")
    ]
    assert runs[0] == runs[1] == runs[2] and len(set(json.loads(runs[0]))) == 3
