"""Reading users' numpy files with clear errors (shared by the codes-file format and the CLI)."""

from __future__ import annotations

import errno
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["existing", "np_array", "np_load"]


def existing(path, what: str) -> Path:
    """``path`` as a Path; ``FileNotFoundError("<what> not found", path)`` when nothing is there."""
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(errno.ENOENT, f"{what} not found", str(p))
    return p


def np_load(p: Path, what: str):
    """``np.load`` of a user's file (the format read from its content, not its suffix).

    Raises ValueError when the file is not a readable ``.npy`` / ``.npz`` (corrupt, pickled,
    truncated, not numpy at all).
    """
    try:
        return np.load(p, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"{p} is not a readable {what} ({e})") from None


def np_array(path, what: str) -> np.ndarray:
    """One array from a ``.npy`` file; a ``.npz`` archive is a ValueError."""
    p = existing(path, what)
    loaded = np_load(p, f"{what} (.npy)")
    if not isinstance(loaded, np.ndarray):
        loaded.close()
        raise ValueError(f"{p} is a .npz archive; a .npy array was expected")
    return loaded
