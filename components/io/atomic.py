"""Writing a directory so that readers see the whole old one or the whole new one."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def write_dir_atomically(directory: Path, fill: Callable[[Path], None], *, overwrite: bool) -> Path:
    """Calls `fill(tmp)` on a temporary sibling of `directory`, then renames it into place.

    An existing `directory` is replaced only with `overwrite` (else FileExistsError, before
    any work); if `fill` raises, the temporary is removed and `directory` is untouched.
    """
    directory = Path(directory)
    if directory.exists() and not overwrite:
        raise FileExistsError(f"{str(directory)!r} exists; pass overwrite=True to replace it")
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.tmp-", dir=directory.parent))
    try:
        fill(tmp)
        if directory.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{directory.name}.old-", dir=directory.parent))
            directory.rename(old / directory.name)
            tmp.rename(directory)
            shutil.rmtree(old)
        else:
            tmp.rename(directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory
