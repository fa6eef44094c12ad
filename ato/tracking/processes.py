"""Where a run's process stands in a distributed job: its rank, the world size, and the job's group.

Rank and world size come from an initialized ``torch.distributed`` process group (torch is never
imported for this: only a process that imported it can have one), else from the environment
torchrun, ``torch.distributed.launch`` and most launchers set: ``RANK``/``WORLD_SIZE``, or
``LOCAL_RANK``/``LOCAL_WORLD_SIZE`` alone. A process with none of them has no rank.

The group is an id every rank of one job sees alike, the first of:

1. ``SQLLogger(config, group=...)``, else ``ATO_GROUP``: yours;
2. ``TORCHELASTIC_RUN_ID`` (torchrun's rendezvous id; ``none``, its default, does not count):
   ``torchrun:ID``;
3. ``SLURM_JOB_ID`` (with ``SLURM_STEP_ID`` where set): ``slurm:JOB[.STEP]``;
4. an initialized process group: a random id the first rank to ask stores in the group's own
   key-value store (no collective call, so it works where only some ranks log): ``dist:ID``;
5. ``MASTER_ADDR``/``MASTER_PORT`` with a world size: ``master:ADDR:PORT@BUCKET``, where the
   bucket is the start time in 10-minute steps: a rendezvous endpoint names one job at a time,
   though ranks that start across a bucket's edge, or two jobs on one port within ten minutes,
   are told apart wrongly; pass ``group=`` where that matters;
6. otherwise none (``""``): a single process.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from typing import NamedTuple

__all__ = ["GROUP_KEY", "Position", "position"]

GROUP_KEY = "ato/group"
"""The key of the job's group id in an initialized process group's store."""

_BUCKET_S = 600


class Position(NamedTuple):
    """A process's place in its job."""

    rank: int | None
    world_size: int | None
    group: str


def position(group: str | None = None) -> Position:
    """This process's rank, world size and group (see the module's docstring)."""
    rank, world_size = _from_process_group()
    if rank is None:
        rank = _int_env("RANK", "LOCAL_RANK")
        world_size = _int_env("WORLD_SIZE", "LOCAL_WORLD_SIZE")
    if group is None:
        group = os.environ.get("ATO_GROUP") or _derived_group(world_size)
    return Position(rank, world_size, group)


def _from_process_group() -> tuple[int | None, int | None]:
    dist = sys.modules.get("torch.distributed")
    try:
        if dist is not None and dist.is_available() and dist.is_initialized():
            return int(dist.get_rank()), int(dist.get_world_size())
    except Exception:  # a half-torn-down group: fall back to the environment
        pass
    return None, None


def _int_env(*names: str) -> int | None:
    for name in names:
        text = os.environ.get(name, "").strip()
        if text.isdigit():
            return int(text)
    return None


def _derived_group(world_size: int | None) -> str:
    elastic = os.environ.get("TORCHELASTIC_RUN_ID", "")
    if elastic and elastic != "none":
        return f"torchrun:{elastic}"
    job = os.environ.get("SLURM_JOB_ID", "")
    if job:
        step = os.environ.get("SLURM_STEP_ID", "")
        return f"slurm:{job}.{step}" if step else f"slurm:{job}"
    stored = _stored_group()
    if stored:
        return stored
    address, port = os.environ.get("MASTER_ADDR", ""), os.environ.get("MASTER_PORT", "")
    if address and port and world_size is not None:
        return f"master:{address}:{port}@{int(time.time()) // _BUCKET_S}"
    return ""


def _stored_group() -> str:
    """The group id kept in the initialized process group's store, set by the first rank to ask."""
    dist = sys.modules.get("torch.distributed")
    if dist is None:
        return ""
    try:
        if not (dist.is_available() and dist.is_initialized()):
            return ""
        from torch.distributed.distributed_c10d import _get_default_store

        # compare_set writes only where the key is absent: every rank reads the first one's id.
        found = _get_default_store().compare_set(GROUP_KEY, "", f"dist:{uuid.uuid4().hex[:16]}")
        return found.decode() if isinstance(found, bytes) else str(found)
    except Exception:  # an older torch, a store without compare_set: the next way
        return ""
