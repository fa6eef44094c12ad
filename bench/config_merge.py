"""Config merging and structural hashing, Ato next to the reference ato 2.1.7.

Prints a table of medians. The reference shares the import name ``ato``, so it runs in its own
interpreter (``ATO_REFERENCE_PYTHON``, set up by ``make bench``) on the same workload, in the same
invocation. Without it, the reference rows say so.

Workload: 10 views, each setting 10 keys (a 100-key config), applied with the merge trace
recorded; and the structural hash of a 1,000-leaf config (10 groups of 100 mixed-type keys).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable

REPEATS = 300

WORKLOAD = r'''
import statistics, time

def make_view(i):
    def view(config):
        for j in range(10):
            config[f"k{i}_{j}"] = float(j) if j % 3 else f"v{j}"
    view.__name__ = f"view{i}"
    return view

VIEWS = [make_view(i) for i in range(10)]

def thousand_leaves(ADict):
    return ADict({f"group{g}": {f"key{k}": (k if k % 3 == 0 else float(k) if k % 3 == 1 else str(k))
                               for k in range(100)} for g in range(10)})

def median_us(fn, repeats):
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e6
'''

REFERENCE = WORKLOAD + r'''
import json, sys
sys.argv = ["bench"]
from ato.adict import ADict
from ato.scope import Scope

def apply_once():
    Scope.registry = ADict()
    scope = Scope()
    for view in VIEWS:
        scope.observe(default=True)(view)
    scope.apply()

config = thousand_leaves(ADict)
print(json.dumps({
    "apply": median_us(apply_once, REPEATS),
    "hash": median_us(config.get_structural_hash, REPEATS),
}))
'''


def measure_ours() -> dict[str, float]:
    namespace: dict[str, object] = {}
    exec(WORKLOAD, namespace)
    median_us: Callable[..., float] = namespace["median_us"]  # type: ignore[assignment]
    views = namespace["VIEWS"]

    from ato.adict import ADict
    from ato.scope import Scope

    scope = Scope()
    for view in views:  # type: ignore[attr-defined]
        scope.observe(default=True)(view)

    def plain_apply() -> None:
        config = ADict()
        for view in views:  # type: ignore[attr-defined]
            view(config)

    config = namespace["thousand_leaves"](ADict)  # type: ignore[operator]
    return {
        "apply": median_us(lambda: scope.apply([]), REPEATS),
        "apply_untraced": median_us(plain_apply, REPEATS),
        "hash": median_us(config.get_structural_hash, REPEATS),
    }


def measure_reference() -> dict[str, float] | None:
    python = os.environ.get("ATO_REFERENCE_PYTHON")
    if not python:
        return None
    code = f"REPEATS = {REPEATS}\n" + REFERENCE
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True, cwd="/")
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    ours = measure_ours()
    reference = measure_reference()
    rows = [
        ("apply 10 views, 100 keys, trace recorded", ours["apply"], reference and reference["apply"], 1200.0),
        ("same views, plain function calls, no Scope", ours["apply_untraced"], None, None),
        ("structural hash, 1,000 leaves", ours["hash"], reference and reference["hash"], 400.0),
    ]
    print(f"{'measure (median)':46} {'ato':>10} {'ato 2.1.7':>11} {'ratio':>7} {'target':>9}")
    for name, mine, ref, target in rows:
        ref_text = f"{ref:9.1f}us" if ref else "  (not run)"
        ratio = f"{ref / mine:6.1f}x" if ref else "      -"
        target_text = f"<{target:.0f}us" if target else ""
        print(f"{name:46} {mine:8.1f}us {ref_text:>11} {ratio:>7} {target_text:>9}")
    overhead = ours["apply"] - ours["apply_untraced"]
    print(f"\ntrace recording overhead: {overhead:.1f}us per apply ({ours['apply'] / ours['apply_untraced']:.1f}x the bare view calls)")
    if reference is None:
        print("reference not run: set ATO_REFERENCE_PYTHON to an interpreter with ato==2.1.7 (make bench does)")


if __name__ == "__main__":
    sys.exit(main())
