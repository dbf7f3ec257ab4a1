"""Files that never half-exist: atomic writes, reproducible npz bytes, checked output paths."""

from __future__ import annotations

import io
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from ethogram.errors import EthogramError

_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed zip timestamps: same arrays, same bytes


def umask() -> int:
    """The process's file-creation mask (read without changing it where the platform allows)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: read it by setting it, and put it back at once
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, fsync, then rename: readers see old or new, never half.

    The file gets the mode any file the user creates gets (0666 less the umask), not the temporary file's 0600."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), 0o666 & ~umask())
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """A compressed .npz (readable by np.load and ogbench.load_dataset) whose bytes depend only on the arrays."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key, value in arrays.items():
            arr = io.BytesIO()
            np.lib.format.write_array(arr, np.ascontiguousarray(value), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, arr.getvalue())
    return buf.getvalue()


def check_writable_output(path: str | Path, force: bool) -> None:
    """Refuse to overwrite an existing file unless forced; make sure we will be able to write there."""
    path = Path(path)
    if path.is_dir():
        raise EthogramError(f"output path '{path}' is a directory.", "give a file path, for example data/x.npz")
    if path.exists() and not force:
        raise EthogramError(f"output '{path}' already exists; refusing to overwrite it.",
                            "choose another path, or pass --force to replace it")
    check_writable_dir(path.parent)


def check_writable_dir(directory: str | Path) -> None:
    """Create `directory` if needed and prove we can write into it."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-probe.", dir=directory)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise EthogramError(f"cannot write to directory '{directory}': {e.strerror or e}.",
                            "choose a directory you can write to") from None
