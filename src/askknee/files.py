"""Crash-safe file writes, shared by the index, the query adapter, the fitted models and the ONNX
model cache."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from pathlib import Path


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` all or nothing: a synced temp file beside it, then one rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; these are ordinary shared files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def fsync_dir(path: Path) -> None:
    """Make the renames inside `path` durable (where the filesystem can sync a folder)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems do not fsync directories; the renames are still atomic
        pass
    finally:
        os.close(fd)


def write_arrays(folder: Path, arrays_file: str, arrays: dict, meta_file: str, meta: dict, *,
                 digest_key: str = "sha256", compress: bool = True) -> None:
    """Save `arrays` (npz), then `meta` with their digest under `digest_key` (JSON, the commit), each
    written all or nothing. Raises OSError."""
    import numpy as np

    buf = io.BytesIO()
    (np.savez_compressed if compress else np.savez)(buf, **arrays)
    body = buf.getvalue()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / arrays_file, body)
    meta = {**meta, digest_key: hashlib.sha256(body).hexdigest()}
    atomic_write(folder / meta_file, (json.dumps(meta, indent=2) + "\n").encode())
    fsync_dir(folder)


def read_arrays(folder: Path, arrays_file: str, meta_file: str, *,
                digest_key: str = "sha256") -> tuple[dict, dict] | None:
    """The description and arrays `write_arrays` saved, or None when `meta_file` is absent. Raises
    ValueError when the arrays are not the ones described, OSError when unreadable."""
    import numpy as np

    folder = Path(folder)
    if not (folder / meta_file).exists():
        return None
    meta = json.loads((folder / meta_file).read_text(encoding="utf-8"))
    body = (folder / arrays_file).read_bytes()
    if hashlib.sha256(body).hexdigest() != meta.get(digest_key):
        raise ValueError(f"{arrays_file} does not match {meta_file}")
    with np.load(io.BytesIO(body), allow_pickle=False) as z:
        return meta, {k: z[k] for k in z.files}
