"""A database made once per test module, copied for each test that may change it."""

from __future__ import annotations

import shutil
from pathlib import Path


def copy_database(template: Path, folder: Path) -> Path:
    """Copy ``template`` (with its -wal and -shm files, if any) into ``folder``; return ``folder``."""
    for part in template.parent.glob(f"{template.name}*"):
        shutil.copy(part, folder / part.name)
    return folder
