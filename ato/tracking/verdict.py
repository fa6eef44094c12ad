"""What ran and from which seeds, compared, and the verdict of ``ato diff`` that names the cause.

Before it blames non-determinism, a diff compares what else can make two runs of the same config
differ: the script (its path and the SHA-256 of its content), the command line's arguments, the
rank, world size and group of a distributed job, and the seeds of the generators Ato can see
(:mod:`ato.fingerprints.seeds`). The verdict names each difference found, most likely cause
first; where none is found, it names what was checked.

A run recorded before Ato kept one of these (no ``script`` or ``seeds`` in its environment
fingerprint, no rank on its start) is not compared on it: a note says so, never a difference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Comparison", "compare_process", "compare_seeds", "verdict"]

_GENERATORS = ("random", "numpy", "torch")


@dataclass
class Comparison:
    """Differences found, what was compared (found equal or not), and what could not be."""

    differences: list[dict[str, Any]] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seeds_not_compared: list[str] = field(default_factory=list)  # generators not compared, and why (for the verdict)


def _recorded(env: dict[str, Any]) -> bool:
    """Whether the run was recorded by an Ato that keeps the script, seeds and rank."""
    return "seeds" in env


def compare_process(a: Any, b: Any, env_a: dict[str, Any], env_b: dict[str, Any]) -> Comparison:
    """The script, the arguments, the rank, world size and group of runs ``a`` and ``b``."""
    out = Comparison()
    script_a, script_b = env_a.get("script"), env_b.get("script")
    if isinstance(script_a, dict) and isinstance(script_b, dict):
        for part, what in (("path", "script path"), ("sha256", "script content")):
            left, right = script_a.get(part), script_b.get(part)
            if left is None or right is None:
                out.notes.append(f"{what}: not known for run {a.id if left is None else b.id} "
                                 "(no script file: an interactive session or a notebook)")
            elif left != right:
                out.differences.append({"what": what, "a": left, "b": right})
        out.checked.append("script")
    else:
        out.notes.append(_not_recorded("script", a, b, isinstance(script_a, dict), isinstance(script_b, dict)))
    argv_a, argv_b = list(a.argv or ()), list(b.argv or ())
    if argv_a and argv_b:  # argv[0] is the script: compared above
        if argv_a[1:] != argv_b[1:]:
            out.differences.append({"what": "arguments", "a": argv_a[1:], "b": argv_b[1:]})
        out.checked.append("arguments")
    else:
        out.notes.append(_not_recorded("arguments", a, b, bool(argv_a), bool(argv_b)))
    both_new = _recorded(env_a) and _recorded(env_b)
    for attribute, what, empty in (("rank", "rank", None), ("world_size", "world size", None), ("group", "group", "")):
        left, right = getattr(a, attribute, empty), getattr(b, attribute, empty)
        if not hasattr(a, attribute):  # an Ato whose read model lacks it
            continue
        if both_new or (left != empty and right != empty):
            if left != right:
                out.differences.append({"what": what, "a": left, "b": right})
            out.checked.append(what)
        elif left != right:  # one side recorded before Ato kept it: its absence says nothing
            out.notes.append(_not_recorded(what, a, b, _recorded(env_a), _recorded(env_b)))
    return out


def _not_recorded(what: str, a: Any, b: Any, a_has_it: bool, b_has_it: bool) -> str:
    which = " and ".join(f"run {run.id}" for run, has in ((a, a_has_it), (b, b_has_it)) if not has)
    return f"{what}: not compared (not recorded by {which}: recorded before Ato kept it, or imported)"


def compare_seeds(a: Any, b: Any, env_a: dict[str, Any], env_b: dict[str, Any]) -> Comparison:
    """The seeds of ``random``, numpy's global generator and torch's, as each run started."""
    out = Comparison()
    seeds_a, seeds_b = env_a.get("seeds"), env_b.get("seeds")
    if not (isinstance(seeds_a, dict) and isinstance(seeds_b, dict)):
        out.notes.append(_not_recorded("seeds", a, b, isinstance(seeds_a, dict), isinstance(seeds_b, dict)))
        return out
    for generator in _GENERATORS:
        left, right = seeds_a.get(generator), seeds_b.get(generator)
        if left is None and right is None:
            continue  # neither script imported it
        if left is None or right is None:
            out.notes.append(f"{generator} seed: not compared (run {a.id if left is None else b.id} "
                             f"did not import {'numpy.random' if generator == 'numpy' else generator})")
            continue
        where = "initial_seed" if generator == "torch" else "state"
        if left.get(where) == right.get(where):
            out.checked.append(f"{generator} seed")
            continue  # the same stream from here on, whatever seeded it
        seeded = (_seeded(left), _seeded(right))
        if all(seeded):
            out.checked.append(f"{generator} seed")
            note = ("torch.initial_seed()" if generator == "torch"
                    else "the generator's state at the run's start differs")
            if left.get("seed") is not None and left.get("seed") == right.get("seed"):
                note = "the same seed, but the generator had been drawn from differently before the run started"
            out.differences.append({"generator": generator, "a": _seed_text(left), "b": _seed_text(right), "note": note})
        elif any(seeded):
            run = a.id if seeded[0] else b.id
            out.seeds_not_compared.append(f"{generator} (seeded at the start of run {run} only)")
            out.notes.append(f"{generator}: seeded at the start of run {run} only (the other was seeded after its "
                             "start, before Ato was imported, or not at all): not compared")
        else:
            out.seeds_not_compared.append(f"{generator} (seeded in neither run)")
            out.notes.append(f"{generator}: no seed seen at either run's start (seeded later, before Ato was "
                             "imported, or not at all): its state differed, not compared")
    return out


def _seeded(record: dict[str, Any]) -> bool:
    return "seed" in record or record.get("seeded") is True


def _seed_text(record: dict[str, Any]) -> Any:
    if "seed" in record:
        return record["seed"]
    if "initial_seed" in record:
        return record["initial_seed"]
    state = f"state {str(record.get('state'))[:12]}"
    return f"seeded (value not seen; {state})" if record.get("seeded") else f"not seeded ({state})"


def verdict(diff: Any) -> str:
    """The cause a :class:`~ato.tracking.diff.RunDiff` points at, in one paragraph."""
    found = _found(diff)
    if diff.numerics and not (diff.config or diff.structure or diff.code or diff.process or diff.seeds):
        others = [name for name in found if name != "numerics switches"]
        also = f" (also different: {', '.join(others)})" if others else ""
        return ("differences found: config, code, script and seeds are the same, but numerics switches changed; "
                f"they are the likely cause of differing outputs and metrics{also}")
    if found:
        return f"differences found: {', '.join('different ' + name for name in found)}; the first is the likeliest cause"
    checked = ", ".join(diff.checked)
    if any(m["first_difference"] is not None for m in diff.metrics):
        seeds_not_compared = f"; generators whose seeds were not compared: {', '.join(diff.seeds_not_compared)}" if diff.seeds_not_compared else ""
        return (f"only the metrics differ; found the same: {checked}. This points at non-determinism "
                f"(nondeterministic kernels, data order, threads{seeds_not_compared})")
    return f"no recorded difference; found the same: {checked}"


def _found(diff: Any) -> list[str]:
    """Each kind of difference, most likely cause first."""
    found: list[str] = []
    if diff.config:
        found.append(f"config ({len(diff.config)} key{'s' if len(diff.config) != 1 else ''})")
    if diff.structure:
        found.append("config structure")
    found += [str(item["what"]) for item in diff.process]
    if diff.code:
        found.append("code")
    found += [f"{item['generator']} seed" for item in diff.seeds]
    if diff.numerics:
        found.append("numerics switches")
    if diff.environment:
        found.append("environment")
    if diff.runtime:
        found.append("runtime outputs")
    return found
