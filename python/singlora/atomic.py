"""Atomic file replacement, as SingLoRA.Gen does it (``src/SingLoRA/AdapterFiles/AtomicFile.cs``): write to
``.singlora-tmp-<name>.<random>`` in the target's folder, flush it to disk, then rename it over the target. A failure
(or a crash) before the rename leaves the previous file untouched; loaders ignore the temporary files."""
from __future__ import annotations

import os
import uuid
from typing import BinaryIO, Callable

TEMP_PREFIX = ".singlora-tmp-"


def write_atomic(path: str, write: Callable[[BinaryIO], None]) -> None:
    """Writes ``path`` atomically with ``write(stream)``; on any error the temporary file is removed and the old file kept."""
    full = os.path.abspath(path)
    folder = os.path.dirname(full)
    os.makedirs(folder, exist_ok=True)
    temp = os.path.join(folder, f"{TEMP_PREFIX}{os.path.basename(full)}.{uuid.uuid4().hex}")
    try:
        with open(temp, "xb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, full)
    except BaseException:
        try:
            os.remove(temp)
        except OSError:
            pass
        raise
