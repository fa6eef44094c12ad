"""The seeds a run can see: Python's ``random``, numpy's global generator and torch's.

Recorded at each run's start, without touching any generator's stream:

- ``random``: a digest of ``random.getstate()``, and the seed last passed to ``random.seed``
  where Ato saw the call: :func:`observe_seed_calls` (run when the logger is imported) replaces
  ``random.seed`` by a wrapper that notes its argument and calls the original with the same
  arguments, so the stream is exactly the one the user asked for.
- ``numpy`` (where the script imported it): a digest of ``numpy.random.get_state()``, the seed
  passed to ``numpy.random.seed`` where observed (wrapped as ``random.seed`` where numpy is
  imported when the logger is, or at the latest at the first run's start), and whether the global generator was seeded through the legacy API at all: numpy
  drops the entropy ``SeedSequence`` of its global generator when ``seed``/``set_state`` is
  called, which tells a seeded generator from one drawn from the OS even where the call was made
  before Ato could see it.
- ``torch`` (where the script imported it): ``torch.initial_seed()``, which reads the seed and
  advances nothing, and the seed passed to ``torch.manual_seed`` where observed (wrapped as
  ``random.seed``). A torch never given ``torch.manual_seed`` drew its seed from the OS at import.

Each is read at the run's start: a seed set after it (``logger.run()`` then ``set_seed(...)``)
is not seen, so :mod:`ato.tracking.verdict` calls a seed different only where both runs were seen
seeded at their start, and otherwise notes what it could not compare.

Generators created by the user (``random.Random(0)``, ``np.random.default_rng(0)``) belong to
the script, not to the process: their seeds are config values to record, not something Ato can see.
"""

from __future__ import annotations

import functools
import hashlib
import sys
from typing import Any

__all__ = ["observe_seed_calls", "seeds"]

_OBSERVER = "__ato_seed_observer__"
_observed: dict[str, Any] = {}  # generator -> the seed last passed to its seed function


def observe_seed_calls(load_numpy_random: bool = True) -> None:
    """Wrap ``random.seed`` and, where numpy is imported, ``numpy.random.seed`` (once each).

    numpy 2 loads ``numpy.random`` on first use: with ``load_numpy_random``, a numpy the script
    imported gets it loaded now, or a seed set next would go unseen (its global generator is
    drawn from the OS when it loads, now or later: no stream changes). Not at a run's start,
    where numpy may have been imported by Ato itself, not by the script."""
    import random

    _wrap(random, "random")
    numpy = sys.modules.get("numpy")
    if numpy is not None and hasattr(numpy, "__version__"):  # imported, not half-imported
        numpy_random = getattr(numpy, "random", None) if load_numpy_random else sys.modules.get("numpy.random")
        if numpy_random is not None and hasattr(numpy_random, "seed"):
            _wrap(numpy_random, "numpy")
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "manual_seed"):
        _wrap(torch, "torch", "manual_seed")


def _wrap(module: Any, generator: str, function: str = "seed") -> None:
    original = getattr(module, function)
    if getattr(original, _OBSERVER, False):
        return

    @functools.wraps(original)
    def seed(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)  # first: a refused seed (a float for numpy) records nothing
        value = args[0] if args else next(iter(kwargs.values()), None)
        if value is None:
            _observed.pop(generator, None)  # seed(None) draws from the OS: not seeded
        else:
            _observed[generator] = _describe(value)
        return result

    setattr(seed, _OBSERVER, True)
    setattr(module, function, seed)


def _describe(value: Any) -> Any:
    """A seed as JSON: an int as itself (as text past 64 bits), anything else by a digest."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if -(1 << 63) <= value < (1 << 63) else str(value)
    return "sha256:" + hashlib.sha256(repr(value).encode()).hexdigest()[:16]


def seeds() -> dict[str, Any]:
    """What each visible generator's seed and state are now (see the module's docstring)."""
    observe_seed_calls(load_numpy_random=False)  # numpy.random loaded since: wrap it for the next seeds
    found: dict[str, Any] = {}
    random = sys.modules.get("random")
    if random is not None:
        record: dict[str, Any] = {"state": _digest(repr(random.getstate()).encode())}
        if "random" in _observed:
            record["seed"] = _observed["random"]
        found["random"] = record
    numpy_random = sys.modules.get("numpy.random")
    if numpy_random is not None and hasattr(numpy_random, "get_state"):
        found["numpy"] = _numpy(numpy_random)
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "initial_seed"):
        try:
            found["torch"] = {"initial_seed": int(torch.initial_seed())}
        except Exception:  # a half-imported or broken torch: nothing to compare
            pass
        else:
            if "torch" in _observed:
                found["torch"]["seed"] = _observed["torch"]
    return found


def _numpy(numpy_random: Any) -> dict[str, Any]:
    name, keys, position, has_gauss, gauss = numpy_random.get_state()  # a copy: advances nothing
    record: dict[str, Any] = {
        "state": _digest(b"".join([str(name).encode(), keys.tobytes(), repr((position, has_gauss, gauss)).encode()])),
    }
    bit_generator = getattr(getattr(numpy_random.mtrand, "_rand", None), "_bit_generator", None)
    missing = object()
    seed_sequence = getattr(bit_generator, "_seed_seq", missing)
    record["seeded"] = None if seed_sequence is missing else seed_sequence is None  # None: cannot tell
    if "numpy" in _observed:
        record["seed"] = _observed["numpy"]
        record["seeded"] = True
    return record


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]
