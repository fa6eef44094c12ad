"""Whether a run that never ended still has a process: what readers show as ``died``.

A run's end is recorded by its own process (``finish``, a context manager, Ctrl-C, SIGTERM, an
uncaught exception, interpreter exit: :mod:`ato.tracking.endings`). SIGKILL, the OOM killer or a
lost machine leave no such record, so a reader judges, without writing anything:

- on the run's own host (its recorded host name is this machine's): the recorded pid is checked
  with ``os.kill(pid, 0)``; a pid that is gone, or that now names a process started after the run
  did (the pid was reused; read from ``/proc`` where there is one), means the run died;
- on another host: the run died when its logger has shown no sign of life (start, heartbeat,
  metric flush) for :data:`DEAD_AFTER_S` seconds. A live logger writes a heartbeat at least every
  ``ato.tracking.logger.HEARTBEAT_S`` (60) seconds, even while the training loop is busy (its
  writer runs on a thread of its own).

Runs with no recorded host or pid (imported from ato 2.1.7) are never judged.
"""

from __future__ import annotations

import os
import socket
import time
from functools import lru_cache

__all__ = ["DEAD_AFTER_S", "process_gone", "run_died"]

DEAD_AFTER_S = 300.0
"""Seconds without a sign of life after which a run of another host counts as died: five
heartbeat intervals, so a logger delayed by a busy disk is not declared dead."""

_REUSE_SLACK_S = 2.0  # /proc's boot time is whole seconds: a process start is known to about 1 s


@lru_cache(maxsize=1)
def _this_host() -> str:
    return socket.gethostname()


@lru_cache(maxsize=1)
def _boot_time() -> float | None:
    try:
        with open("/proc/stat") as stat:
            for line in stat:
                if line.startswith("btime "):
                    return float(line.split()[1])
    except OSError:
        pass
    return None


def _process_start(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch), where ``/proc`` says; else None."""
    boot = _boot_time()
    if boot is None:
        return None
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            text = stat.read()
        # The command name (field 2) may hold spaces and parentheses: fields follow its last ')'.
        fields = text[text.rindex(b")") + 2:].split()
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: starttime, in ticks
    except (OSError, ValueError, IndexError):
        return None


def process_gone(pid: int, started_at: float) -> bool:
    """Whether the process ``pid`` of this host that started a run at ``started_at`` is gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # exists, under another user
    except OSError:
        return False  # cannot tell: not judged
    started = _process_start(pid)
    return started is not None and started > started_at + _REUSE_SLACK_S


def run_died(host: str, pid: int, started_at: float, last_seen: float | None, now: float | None = None) -> bool:
    """Whether a run that never ended has lost its process (see the module's docstring)."""
    if not host or pid <= 0:
        return False
    if host == _this_host():
        return process_gone(pid, started_at)
    seen = started_at if last_seen is None else max(last_seen, started_at)
    return (time.time() if now is None else now) - seen > DEAD_AFTER_S
