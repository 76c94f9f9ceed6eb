"""Our exceptions. Each message says what was wrong and what to do."""


class AskKneeError(Exception):
    """Base class; the CLI and UI turn these into messages and exit codes."""


class CorpusError(AskKneeError):
    """The corpus could not be read or holds no usable article."""


class IndexFileError(AskKneeError):
    """The index is missing, stale or corrupt and could not be rebuilt."""


class ModelError(AskKneeError):
    """The embedding model could not be loaded."""


class QueryError(AskKneeError):
    """The question or its parameters are unusable (empty question, k < 1, bad file)."""

