"""``ato diff RUN_A RUN_B``: why two runs differ, most likely cause first."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from ato.cli.output import emit_json

__all__ = ["register"]


def register(command: Callable[[str, str, str], argparse.ArgumentParser]) -> None:
    parser = command(
        "diff", "Explain why two runs differ: config, structure, code, runtime, numerics, environment, metrics.",
        "ato diff 1 2            # why runs 1 and 2 differ, most likely cause first\n  ato diff 1 2 --json",
    )
    parser.add_argument("run_a", help="run id")
    parser.add_argument("run_b", help="run id")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace, path: Path) -> int:
    from ato.tracking.diff import diff_runs
    from ato.tracking.finder import SQLFinder

    with SQLFinder(path) as finder:
        report = diff_runs(finder, args.run_a, args.run_b)
    if args.json:
        emit_json(report.to_json())
        return 0
    print(f"Why do runs {report.a.id} and {report.b.id} differ? (most likely cause first)\n")
    if report.config:
        print(f"config: {len(report.config)} key(s) differ")
        for item in report.config:
            a = repr(item["a"]) if item["set_by_a"] != "absent" else "absent"
            b = repr(item["b"]) if item["set_by_b"] != "absent" else "absent"
            print(f"  {item['key']}: {a} [{item['set_by_a']}]  ->  {b} [{item['set_by_b']}]")
    else:
        print("config: same values")
    if report.structure:
        print(f"structure: differs ({report.structure['a'][:12]} vs {report.structure['b'][:12]})")
    else:
        print("structure: same")
    for item in report.code:
        changed = ", ".join(item["changed"]) if "changed" in item else "recorded in only one run"
        print(f"code: {item['trace_id']} changed ({changed})")
    if not report.code:
        print("code: same fingerprints")
    for item in report.runtime:
        where = item.get("first_divergent_call")
        if where is not None:
            at = f"first diverged at call {where}"
        elif "diverged_after" in item:
            at = f"diverged after call {item['diverged_after'] - 1} (digests are kept for the first calls only)"
        else:
            at = "recorded in only one run"
        note = f"; {item['note']}" if item.get("note") else ""
        print(f"runtime: {item['trace_id']} {at} ({item['calls_a']} vs {item['calls_b']} calls){note}")
    if not report.runtime:
        print("runtime: same outputs")
    for item in report.numerics:
        print(f"numerics changed: {item['switch']} {item['a']} -> {item['b']} (may change results)")
    if not report.numerics:
        if report.numerics_recorded:
            print("numerics: same switches")
        elif report.numerics_recorded_by:
            print("numerics: not compared (only one run recorded torch's switches)")
        else:
            print("numerics: not recorded (neither run recorded torch's switches)")
    if report.environment:
        print(f"environment: {len(report.environment)} difference(s)")
        for item in report.environment:
            print(f"  {item['what']}: {item['a']} -> {item['b']}")
    else:
        print("environment: same")
    for item in report.metrics:
        first = item["first_difference"]
        if first is None:
            print(f"metric {item['key']}: identical")
        else:
            print(f"metric {item['key']}: first differs at step {first['step']} ({first['a']} vs {first['b']})")
    print(f"\n{report.verdict}")
    return 0
