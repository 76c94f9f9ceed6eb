"""Every setting, read from the environment once, when a `Settings` is made (at start).

`ASKKNEE_*` variables (and Gradio's `GRADIO_SERVER_NAME` / `GRADIO_SERVER_PORT` / `GRADIO_ROOT_PATH`)
override the defaults; docs/configuration.md lists them all. Tuned numbers are not settings: they
live in `params.json` beside the index (`params.py`); the three overrides here are for experiments.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .errors import AskKneeError

DEFAULT_MODEL = "all-MiniLM-L6-v2"
ANN_THRESHOLD = 50_000  # vectors above which the index is HNSW instead of exact


def _project_root() -> Path:
    # In a source checkout the package sits at <root>/src/askknee; elsewhere use the cwd.
    here = Path(__file__).resolve().parents[2]
    return here if (here / "corpus").is_dir() else Path.cwd()


class SettingsError(AskKneeError):
    """An environment variable holds a value the setting cannot take."""


def default_cache_dir() -> Path:
    """$ASKKNEE_CACHE_DIR, else $XDG_CACHE_HOME/askknee, else ~/.cache/askknee."""
    if os.environ.get("ASKKNEE_CACHE_DIR"):
        return Path(os.environ["ASKKNEE_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "askknee"


def prepare_process() -> None:
    """Process-wide environment for serving, set by the entry points (`app.py`, the CLI) before
    anything loads faiss, ONNX Runtime or Gradio."""
    # OpenMP threads that spin while idle make one-question searches (faiss) up to 20x slower when
    # the cores are shared (Gradio's workers, other processes): sleep instead. Read when the OpenMP
    # runtime loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    # Gradio's working folder (it makes one at start; the chat stores nothing in it): in our cache, not /tmp.
    os.environ.setdefault("GRADIO_TEMP_DIR", str(default_cache_dir() / "gradio"))


class Settings(BaseSettings):
    """Paths, model, serving and exposure; see docs/configuration.md."""

    # Only the names below are read (no bare HOST or PORT); an empty variable counts as unset.
    model_config = SettingsConfigDict(frozen=True, extra="ignore", env_ignore_empty=True)

    # Data and model
    corpus_dir: Path = Field(default_factory=lambda: _project_root() / "corpus",
                             validation_alias=AliasChoices("ASKKNEE_CORPUS"))
    index_dir: Path = Field(default_factory=lambda: _project_root() / "index",
                            validation_alias=AliasChoices("ASKKNEE_INDEX"))
    model: str = Field(DEFAULT_MODEL, validation_alias=AliasChoices("ASKKNEE_MODEL"))
    backend: str = Field("onnx", validation_alias=AliasChoices("ASKKNEE_BACKEND"))
    cache_dir: Path = Field(default_factory=default_cache_dir, validation_alias=AliasChoices("ASKKNEE_CACHE_DIR"))
    ann_threshold: int = Field(ANN_THRESHOLD, validation_alias=AliasChoices("ASKKNEE_ANN_THRESHOLD"))
    # Overrides of the index's params.json (unset: the file's values)
    dense_weight: float | None = Field(None, validation_alias=AliasChoices("ASKKNEE_DENSE_WEIGHT"))
    lexical_halfpoint: float | None = Field(None, validation_alias=AliasChoices("ASKKNEE_LEXICAL_HALFPOINT"))
    answer_threshold: float | None = Field(None, validation_alias=AliasChoices("ASKKNEE_ANSWER_THRESHOLD"))
    # Web server
    host: str = Field("127.0.0.1", validation_alias=AliasChoices("GRADIO_SERVER_NAME"))
    port: int = Field(7860, validation_alias=AliasChoices("GRADIO_SERVER_PORT"))
    root_path: str = Field("", validation_alias=AliasChoices("ASKKNEE_ROOT_PATH", "GRADIO_ROOT_PATH"))
    concurrency: int = Field(4, ge=1, validation_alias=AliasChoices("ASKKNEE_CONCURRENCY"))
    max_queue: int = Field(200, ge=1, validation_alias=AliasChoices("ASKKNEE_MAX_QUEUE"))
    feedback_file: str = Field("", validation_alias=AliasChoices("ASKKNEE_FEEDBACK_FILE"))
    # Exposure
    frame_ancestors: str = Field("", validation_alias=AliasChoices("ASKKNEE_FRAME_ANCESTORS"))
    allowed_origins: Annotated[tuple[str, ...], NoDecode] = Field(
        (), validation_alias=AliasChoices("ASKKNEE_ALLOWED_ORIGINS"))
    expose_internals: bool = Field(False, validation_alias=AliasChoices("ASKKNEE_EXPOSE_INTERNALS"))

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value):
        return tuple(value.split()) if isinstance(value, str) else value

    @field_validator("backend", mode="before")
    @classmethod
    def _backend(cls, value):
        return str(value).strip().lower() or "onnx"

    @classmethod
    def from_env(cls) -> Settings:
        """The settings of this process; a bad value is our error, naming the variable."""
        try:
            return cls()
        except ValidationError as e:
            problems = "; ".join(f"{'/'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
            raise SettingsError(f"a setting in the environment is not valid ({problems}); fix or unset it "
                                "(docs/configuration.md lists them)") from None

    def with_(self, **changes) -> Settings:
        """A copy with the given fields changed (None leaves a field as it is)."""
        return self.model_copy(update={k: v for k, v in changes.items() if v is not None})

    def param_overrides(self) -> dict[str, float]:
        """The tuned numbers this environment overrides."""
        names = ("dense_weight", "lexical_halfpoint", "answer_threshold")
        return {k: getattr(self, k) for k in names if getattr(self, k) is not None}
