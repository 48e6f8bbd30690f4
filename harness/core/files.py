"""Files every room writes: JSON any reader can parse (NaN and inf as null) and atomic writes (readers never
see half a file), and the one reader of a user's JSON file.  In core because measure/, analysis/ and output/ all
write with them."""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

from harness.core.errors import HarnessError


def to_json(obj) -> str:
    """JSON with NaN/inf written as ``null`` so any reader can parse it."""
    return json.dumps(finite(obj), indent=2, sort_keys=False)


def read_json(path: str, expected: str):
    """The JSON document in ``path``; an unreadable file or invalid JSON is one :class:`HarnessError` line that
    ends with ``expected`` (what the file should have been)."""
    try:
        with open(path, encoding="utf8") as fh:
            return json.load(fh)
    except OSError as exc:
        raise HarnessError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise HarnessError(f"{path} is not valid JSON ({exc}); {expected}") from exc


def finite(obj):
    """``obj`` with NaN and infinities as ``None`` (JSON has no such numbers)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    return obj


def write_atomic(path: str | os.PathLike, text: str | bytes) -> None:
    """Write to a temporary file beside ``path`` and rename it over: readers never see half a file.
    A path that is not a regular file (``/dev/null``, a pipe) is written in place: renaming over it would
    replace the device."""
    path = Path(path)
    mode = "wb" if isinstance(text, bytes) else "w"
    if path.exists() and not path.is_file():
        with open(path, mode) as fh:
            fh.write(text)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 would make results private
        with os.fdopen(fd, mode) as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
