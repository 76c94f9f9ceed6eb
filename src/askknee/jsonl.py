"""JSON-lines files (BEIR queries, question files, answer sets): one object per line."""

from __future__ import annotations

import json
from pathlib import Path

from .errors import QueryError


def read_text(path: str | Path) -> str:
    """A UTF-8 text file, with an error saying what to do when it cannot be read."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise QueryError(f"cannot read {path} ({e.strerror}); check the path") from None
    except UnicodeDecodeError:
        raise QueryError(f"{path} is not UTF-8 text") from None


def parse_jsonl(text: str, where: str) -> list[tuple[int, dict]]:
    """(line number, object) for each non-blank line; `where` names the source in errors."""
    rows = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            row = None
        if not isinstance(row, dict):
            raise QueryError(f"{where}:{n}: not a JSON object; expected one JSON object per line")
        rows.append((n, row))
    return rows


def read_jsonl(path: str | Path) -> list[tuple[int, dict]]:
    """(line number, object) for each non-blank line of a JSON-lines file."""
    return parse_jsonl(read_text(path), str(path))
