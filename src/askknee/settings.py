"""Paths, model and tuning knobs: defaults plus ASKKNEE_* environment overrides."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_MODEL = "all-MiniLM-L6-v2"


def _project_root() -> Path:
    # In a source checkout the package sits at <root>/src/askknee; elsewhere use the cwd.
    here = Path(__file__).resolve().parents[2]
    return here if (here / "corpus").is_dir() else Path.cwd()


def _env(name: str, default: str) -> str:
    return os.environ.get(f"ASKKNEE_{name}", default)


@dataclass(frozen=True)
class Settings:
    corpus_dir: Path = field(default_factory=lambda: Path(_env("CORPUS", str(_project_root() / "corpus"))))
    index_dir: Path = field(default_factory=lambda: Path(_env("INDEX", str(_project_root() / "index"))))
    model: str = field(default_factory=lambda: _env("MODEL", DEFAULT_MODEL))
    # Fusion: score = dense_weight * cosine + (1 - dense_weight) * bm25 / (bm25 + lexical_halfpoint).
    # The saturating lexical transform keeps scores absolute, so one threshold works for all questions.
    dense_weight: float = field(default_factory=lambda: float(_env("DENSE_WEIGHT", "0.6")))
    lexical_halfpoint: float = field(default_factory=lambda: float(_env("LEXICAL_HALFPOINT", "4.0")))
    answer_threshold: float = field(default_factory=lambda: float(_env("ANSWER_THRESHOLD", "0.45")))
    max_question_chars: int = 1000

    def with_(self, **changes) -> "Settings":
        from dataclasses import replace

        return replace(self, **{k: v for k, v in changes.items() if v is not None})
