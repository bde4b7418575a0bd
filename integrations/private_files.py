"""Files and directories only their owner can read: the data directory, the SQLite
database, the development secrets.

They hold residents' messages, phone numbers and addresses, and credentials, so they are
created ``0700`` (directories) and ``0600`` (files) whatever the process's umask, and an
existing file readable by others is tightened when we own it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

__all__ = [
    "PRIVATE_DIR_MODE",
    "PRIVATE_FILE_MODE",
    "make_private_dir",
    "private_file",
    "write_private_file",
]

log = logging.getLogger(__name__)

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def make_private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) as ``0700``; an existing directory is left as
    it is (it may be shared on purpose, e.g. a mounted volume)."""
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:
            continue  # another process made it in between
        os.chmod(directory, PRIVATE_DIR_MODE)  # mkdir's mode is subject to the umask


def private_file(path: Path) -> None:
    """Make sure ``path`` exists and only its owner can read or write it: created empty as
    ``0600`` when missing (before SQLite opens it, so it never exists world-readable),
    tightened when it exists with group or other bits and belongs to us."""
    make_private_dir(path.parent)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_FILE_MODE)
    except FileExistsError:
        _tighten(path)
        return
    os.close(fd)
    os.chmod(path, PRIVATE_FILE_MODE)


def write_private_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` as a ``0600`` file (never readable by others, even for a
    moment)."""
    private_file(path)
    path.write_text(text, encoding="utf-8")


def _tighten(path: Path) -> None:
    try:
        info = path.stat()
    except FileNotFoundError:
        return
    if info.st_mode & 0o077 and info.st_uid == os.getuid():
        os.chmod(path, info.st_mode & 0o700)
        log.warning("%s was readable by other users; now owner-only", path)
