"""Tuned numbers, kept in one file beside the index (`params.json`), as bm25s and txtai keep theirs.

Each was chosen on the dev questions out of fold (docs/evaluation.md says how); `askknee build`
writes the file with these defaults when the index folder has none. An environment override
(`ASKKNEE_DENSE_WEIGHT`, …) wins over the file; a query adapter fitted under other fusion
numbers is then refused, with one warning that says what to run.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from .errors import IndexFileError
from .files import atomic_write

log = logging.getLogger("askknee")

PARAMS_FILE = "params.json"


@dataclass(frozen=True)
class Params:
    # Fusion: score = dense_weight * cosine + (1 - dense_weight) * bm25 / (bm25 + lexical_halfpoint).
    # Both parts are absolute (not normalised per question), so scores compare across questions.
    dense_weight: float = 0.6
    lexical_halfpoint: float = 4.0
    # Share of the mean-centred cosine in the dense score (0: plain cosine).
    centering: float = 0.6
    # Question memory: a labelled question counts from this cosine up, adding at most this share of
    # the gap to 1; then passage prototypes, the same way.
    memory_floor: float = 0.5
    memory_weight: float = 0.3
    prototype_floor: float = 0.4
    prototype_weight: float = 0.5
    # Answer or decline on the top fused score, when no fitted scope model serves this index.
    answer_threshold: float = 0.45
    # Extra passages in a reply must score at least this share of the best one.
    passage_ratio: float = 0.8

    # What a query adapter's fitting depends on: it is refused when any of these differ.
    FUSION = ("dense_weight", "lexical_halfpoint", "centering")

    def with_(self, **changes) -> Params:
        return replace(self, **{k: float(v) for k, v in changes.items() if v is not None})

    def fusion(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in self.FUSION}


def load_params(index_dir: Path) -> Params:
    """The parameters saved beside the index, or the defaults when there is no file."""
    path = Path(index_dir) / PARAMS_FILE
    if not path.exists():
        return Params()
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        known = {f.name for f in fields(Params)}
        unknown = set(saved) - known
        if unknown:
            raise ValueError(f"unknown parameters {', '.join(sorted(unknown))}")
        return Params(**{k: float(v) for k, v in saved.items()})
    except (OSError, ValueError, TypeError) as e:
        raise IndexFileError(f"cannot read {path} ({e}); fix the file or delete it to use the defaults") from None


def save_params(params: Params, index_dir: Path) -> None:
    """Write the parameters beside the index (atomically)."""
    try:
        Path(index_dir).mkdir(parents=True, exist_ok=True)
        atomic_write(Path(index_dir) / PARAMS_FILE, (json.dumps(asdict(params), indent=2) + "\n").encode())
    except OSError as e:
        raise IndexFileError(f"cannot write {PARAMS_FILE} to {index_dir} ({e.strerror or e}); "
                             "give a writable --index folder") from None
