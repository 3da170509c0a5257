"""Ids and relative paths read from dataset files never lead outside their dataset folder.

A ``dicom_id`` of ``../../etc/x`` or a ``path`` column of ``/home/me/secret.jpg`` in a CSV would make a
loader read files anywhere; these checks turn such values into errors naming the file and row. The check
is lexical (``..`` and absolute paths), so a folder that is itself a symbolic link keeps working.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath, PureWindowsPath

_FORBIDDEN = ("/", "\\", "\x00")


def path_component(value: str, what: str) -> str:
    """``value`` when it can name one file or folder inside its parent, else a ValueError naming ``what``."""
    text = str(value)
    if text in ("", ".", "..") or any(c in text for c in _FORBIDDEN) or PureWindowsPath(text).drive:
        raise ValueError(f"{what} {text!r} cannot be used as a file name (no '/', '\\\\', '..' or drive allowed: "
                         "ids never leave their dataset folder)")
    return text


def inside(root: str | Path, relative: str, what: str) -> Path:
    """``root / relative`` when that path stays inside ``root``, else a ValueError naming ``what``."""
    text = str(relative).replace("\\", "/")
    if "\x00" in text or PurePosixPath(text).is_absolute() or PureWindowsPath(str(relative)).drive:
        raise ValueError(f"{what} {relative!r} must be a path relative to {root}, not an absolute path")
    normal = os.path.normpath(text)
    if normal == ".." or normal.startswith("../"):
        raise ValueError(f"{what} {relative!r} leads outside {root} ('..' may not climb out of the dataset folder)")
    return Path(root) / normal
