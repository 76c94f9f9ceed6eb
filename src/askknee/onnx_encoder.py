"""Serve a sentence-transformers model through ONNX Runtime: export once per machine, encode without torch.

Only plain models are handled: Transformer -> mean Pooling -> optional Normalize (the default
all-MiniLM-L6-v2 is one). The graph holds the transformer, the masked mean and the L2
normalisation, so serving needs just `onnxruntime` and `tokenizers`. torch is imported only to
export, once, in a child process (`python -m askknee.onnx_encoder`), into a cache file keyed by
the model's files: the serving process never holds torch's memory nor mutes its own output for
the exporter's sake. Anything else raises `Unsupported`
and the caller uses sentence-transformers itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .files import atomic_write
from .settings import default_cache_dir

log = logging.getLogger("askknee")

# Bump when the exported graph changes, so stale cache files are not reused.
EXPORTER_VERSION = 1
OPSET = 18  # the dynamo exporter's lowest native opset; asking for 17 triggers a failing down-conversion
BATCH_SIZE = 32
MIN_COSINE = 0.9999
EXPORT_TIMEOUT_S = 900  # a slow machine, busy: the export itself takes ~15 s on 2 idle cores
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAME = "sentence_embedding"
# Checked against sentence-transformers after every export: short, empty-ish, and beyond 256 tokens.
VERIFY_TEXTS = (
    "How do I stop a knee muscle spasm at night?",
    "knee",
    "Stretch the hamstrings and calves gently; drink water; see a doctor if the spasm lasts. " * 20,
    "Can dehydration or low magnesium cause cramps behind the knee?",
)
_CONFIG_FILES = (
    "modules.json", "config_sentence_transformers.json", "config.json", "sentence_bert_config.json",
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
)


class Unsupported(Exception):
    """Why the ONNX path cannot serve this model; the caller falls back to sentence-transformers."""


@dataclass(frozen=True)
class ModelSpec:
    """What serving needs to know about a sentence-transformers folder."""

    folder: Path  # the Transformer module's folder: weights, config.json, tokenizer.json
    max_seq_length: int
    dimension: int
    fingerprint: str  # changes when the model's files do


def cache_dir() -> Path:
    """Where exported models are kept: the settings' `cache_dir`."""
    return default_cache_dir()


def _read_json(path: Path) -> dict | list:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise Unsupported(f"cannot read {path.name} ({type(e).__name__})") from None


def _kind(module: dict) -> str:
    t = str(module.get("type", ""))
    return t.rsplit(".", 1)[-1] if t.startswith("sentence_transformers.") else t


def inspect_model(model_dir: str | Path) -> ModelSpec:
    """Check that a sentence-transformers folder is Transformer -> mean Pooling -> [Normalize]."""
    root = Path(model_dir)
    if not (root / "modules.json").is_file():
        raise Unsupported("not a local sentence-transformers folder")
    modules = sorted(_read_json(root / "modules.json"), key=lambda m: m.get("idx", 0))
    kinds = [_kind(m) for m in modules]
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        raise Unsupported(f"modules {kinds} are not Transformer -> Pooling -> Normalize")
    folder = root / modules[0].get("path", "")
    pooling = _read_json(root / modules[1].get("path", "") / "config.json")
    modes = {k: v for k, v in pooling.items() if k.startswith("pooling_mode_")}
    if modes.get("pooling_mode_mean_tokens") is not True or any(v for k, v in modes.items() if k != "pooling_mode_mean_tokens"):
        raise Unsupported("pooling is not mean-only")
    st_config = root / "config_sentence_transformers.json"
    if st_config.is_file() and _read_json(st_config).get("default_prompt_name"):
        raise Unsupported("the model adds a default prompt")
    bert_config = _read_json(folder / "sentence_bert_config.json")
    max_len = bert_config.get("max_seq_length")
    if not isinstance(max_len, int) or max_len < 2 or bert_config.get("do_lower_case"):
        raise Unsupported("sentence_bert_config.json has no usable max_seq_length or lowercases input")
    if not (folder / "tokenizer.json").is_file():
        raise Unsupported("no tokenizer.json (a fast tokenizer is needed)")
    dimension = pooling.get("word_embedding_dimension")
    if not isinstance(dimension, int):
        raise Unsupported("pooling config has no word_embedding_dimension")
    return ModelSpec(folder=folder, max_seq_length=max_len, dimension=dimension, fingerprint=_fingerprint(root, folder))


def _fingerprint(root: Path, folder: Path) -> str:
    """Short hash of the configs and tokenizer (content) and the weights (size + mtime: too big to hash)."""
    h = hashlib.sha256(f"askknee-onnx {EXPORTER_VERSION} opset {OPSET}".encode())
    for base in dict.fromkeys((root, folder)):
        for name in _CONFIG_FILES:
            p = base / name
            if p.is_file():
                h.update(f"{p.relative_to(root)}\0".encode() + p.read_bytes())
    weights = sorted(folder.glob("*.safetensors")) + sorted(folder.glob("pytorch_model*.bin"))
    if not weights:
        raise Unsupported("no weights file found")
    for p in weights:
        st = p.stat()
        h.update(f"{p.name}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    return h.hexdigest()[:16]


def cache_path(name: str, spec: ModelSpec, directory: Path | None = None) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")[-80:] or "model"
    return (directory or cache_dir()) / "onnx" / f"{safe}-{spec.fingerprint}.onnx"


def make_tokenizer(spec: ModelSpec):
    """The model's fast tokenizer set up like sentence-transformers: truncate at max_seq_length, pad to the longest."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(spec.folder / "tokenizer.json"))
    # tokenizer.json may carry its own fixed padding and truncation (128 for MiniLM): replace both.
    tok.enable_truncation(max_length=spec.max_seq_length)
    pad = tok.padding or {}
    tok.enable_padding(pad_id=pad.get("pad_id", 0), pad_type_id=pad.get("pad_type_id", 0),
                       pad_token=pad.get("pad_token", "[PAD]"), direction=pad.get("direction", "right"))
    return tok


def tokenize(tok, texts: list[str]) -> dict[str, np.ndarray]:
    """int64 arrays by graph input name, padded to the batch's longest text."""
    encs = tok.encode_batch(texts)
    return {
        "input_ids": np.asarray([e.ids for e in encs], dtype=np.int64),
        "attention_mask": np.asarray([e.attention_mask for e in encs], dtype=np.int64),
        "token_type_ids": np.asarray([e.type_ids for e in encs], dtype=np.int64),
    }


def onnxruntime():
    """ONNX Runtime, imported with its telemetry off: by default it keeps a database with a device id
    under ~/.cache/Microsoft, which an offline, privacy-first server must not write. The variable
    must be set before the library loads (disable_telemetry_events() alone still writes the files)."""
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    import onnxruntime as ort

    ort.disable_telemetry_events()
    return ort


class OrtEncoder:
    """ONNX Runtime session + `tokenizers` tokenizer: texts -> L2-normalised float32 rows."""

    def __init__(self, model: str | Path | bytes, spec: ModelSpec, *, threads: int | None = None):
        ort = onnxruntime()
        ort.set_default_logger_severity(3)  # errors only
        opts = ort.SessionOptions()
        # Two threads that sleep rather than spin when idle. Measured on one question (2 cores):
        # spinning threads win only while the other core idles (6.3 vs 8.3 ms p50 for one thread)
        # and lose badly when it is busy (p95 20 vs 10 ms); non-spinning ones are 7.1 ms p50 and
        # 8-10 ms p95 either way.
        opts.intra_op_num_threads = threads or min(2, os.cpu_count() or 1)
        opts.inter_op_num_threads = 1
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        source = model if isinstance(model, bytes) else str(model)
        self._session = ort.InferenceSession(source, opts, providers=["CPUExecutionProvider"])
        self._inputs = [i.name for i in self._session.get_inputs()]
        unknown = set(self._inputs) - set(INPUT_NAMES)
        if unknown or [o.name for o in self._session.get_outputs()] != [OUTPUT_NAME]:
            raise Unsupported(f"unexpected graph inputs/outputs {sorted(unknown)}")
        self._tokenizer = make_tokenizer(spec)
        self.dimension = spec.dimension

    def encode(self, texts: list[str], *, progress: bool = False) -> np.ndarray:
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        # Longest first, like sentence-transformers, so each batch pads little.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        starts = range(0, len(texts), BATCH_SIZE)
        if progress:
            with contextlib.suppress(ImportError):
                from tqdm import tqdm

                starts = tqdm(starts, desc="Batches", unit="batch")
        for start in starts:
            rows = order[start:start + BATCH_SIZE]
            arrays = tokenize(self._tokenizer, [texts[i] for i in rows])
            feeds = {name: arrays[name] for name in self._inputs}
            out[rows] = self._session.run([OUTPUT_NAME], feeds)[0]
        return out


@contextlib.contextmanager
def _quiet():
    """Silence the exporter's prints, warnings and log records (it is very chatty) for the export only."""
    names = [n for n in list(logging.root.manager.loggerDict) if n.split(".")[0] in ("torch", "onnxscript", "onnx_ir", "onnx")]
    loggers = [logging.getLogger(n) for n in ("torch", "onnxscript", "onnx_ir", "onnx", *names)]
    levels = [lg.level for lg in loggers]
    sink = io.StringIO()
    try:
        for lg in loggers:
            lg.setLevel(logging.CRITICAL)
        with warnings.catch_warnings(), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def export_onnx(st_model, spec: ModelSpec) -> bytes:
    """Export a loaded SentenceTransformer (transformer + mean pooling + L2 norm) to ONNX bytes.

    Uses the torch dynamo exporter: the legacy TorchScript exporter produced wrong vectors for
    this model with current transformers (cosine ~0.93 against sentence-transformers).
    """
    import copy
    import inspect

    import onnx  # noqa: F401 - fail early, and clearly, when the exporter's dependencies are missing
    import onnxscript  # noqa: F401
    import torch

    transformer = copy.deepcopy(st_model[0].auto_model).eval()  # never touch the reference model
    with contextlib.suppress(Exception):
        transformer.set_attn_implementation("eager")
    takes_types = "token_type_ids" in inspect.signature(transformer.forward).parameters

    class MeanPooled(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            extra = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
            hidden = self.model(input_ids=input_ids, attention_mask=attention_mask, return_dict=False, **extra)[0]
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2, dim=1)

    # Two texts of different lengths: a batch > 1 with padding, so no dimension is specialised.
    sample = tokenize(make_tokenizer(spec), ["how do I stop a knee spasm at night", "knee"])
    names = INPUT_NAMES if takes_types else INPUT_NAMES[:2]
    args = tuple(torch.from_numpy(sample[n]) for n in names)
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("sequence")
    with _quiet(), torch.no_grad():
        program = torch.onnx.export(
            MeanPooled(transformer).eval(), args, None, input_names=list(names), output_names=[OUTPUT_NAME],
            dynamic_shapes=tuple({0: batch, 1: seq} for _ in names), opset_version=OPSET,
            dynamo=True, external_data=False, verbose=False,
        )
        return program.model_proto.SerializeToString()


def min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.min(np.sum(a * b, axis=1))) if len(a) else 1.0


def verify(encoder: OrtEncoder, reference) -> float:
    """Lowest cosine between the encoder's and the reference sentence-transformers model's vectors
    on fixed texts."""
    texts = list(VERIFY_TEXTS)
    ours = np.vstack([encoder.encode(texts), encoder.encode(texts[:1])])
    theirs = np.asarray(reference.encode(texts, normalize_embeddings=True, convert_to_numpy=True), dtype=np.float32)
    return min_cosine(ours, np.vstack([theirs, theirs[:1]]))


def _writable(directory: Path) -> str | None:
    """None if files can be created in `directory` (made if missing), else the reason."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as e:
        return e.strerror or type(e).__name__
    return None


def export_model(model_dir: str | Path) -> bytes:
    """Export and verify the model in a child process; the ONNX bytes, or `Unsupported` with the reason."""
    with tempfile.TemporaryDirectory(prefix="askknee-onnx-") as tmp:
        out = Path(tmp) / "model.onnx"
        try:
            run = subprocess.run([sys.executable, "-m", "askknee.onnx_encoder", str(model_dir), str(out)],
                                 check=False, capture_output=True, text=True, timeout=EXPORT_TIMEOUT_S,
                                 env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                                      "ORT_DISABLE_TELEMETRY": "1"})
        except (OSError, subprocess.TimeoutExpired) as e:
            raise Unsupported(f"the export process failed ({type(e).__name__})") from None
        if run.returncode != 0 or not out.is_file():
            lines = [ln for ln in run.stderr.splitlines() if ln.strip()]
            raise Unsupported(lines[-1].strip() if lines else f"the export process exited with {run.returncode}")
        return out.read_bytes()


def load_encoder(name: str, model_dir: str | Path) -> OrtEncoder:
    """An ORT encoder for the model: from the cache, else exported (once), verified and cached.

    Raises `Unsupported` when ONNX cannot serve the model.
    """
    try:
        onnxruntime()
        import tokenizers  # noqa: F401
    except ImportError as e:
        raise Unsupported(f"{e.name} is not installed") from None
    spec = inspect_model(model_dir)
    path = cache_path(name, spec)
    if path.is_file():
        try:
            return OrtEncoder(path, spec)
        except Unsupported:
            raise
        except Exception as e:  # noqa: BLE001 - a truncated or corrupt cache file: export it again
            log.debug("askknee: cached ONNX model %s unusable (%s); exporting again", path, type(e).__name__)
    problem = _writable(path.parent)
    if problem is None:
        log.warning("askknee: exporting %s to ONNX once, cached at %s", name, path)
    else:
        log.warning("askknee: exporting %s to ONNX in memory (cannot write the cache %s: %s)", name, path.parent, problem)
    data = export_model(model_dir)
    encoder = OrtEncoder(data, spec)
    if problem is None:
        try:
            atomic_write(path, data)
        except OSError as e:
            log.debug("askknee: could not cache the ONNX model at %s (%s)", path, e.strerror)
    return encoder


def export_main(argv: list[str]) -> int:
    """`python -m askknee.onnx_encoder MODEL_DIR OUT`: export, check against sentence-transformers, write OUT.

    Exit 0 and OUT written only when the check passes; otherwise exit 1 with one reason line on stderr.
    """
    model_dir, out = argv
    try:
        from sentence_transformers import SentenceTransformer

        spec = inspect_model(model_dir)
        reference = SentenceTransformer(str(model_dir), device="cpu")
        data = export_onnx(reference, spec)
        cos = verify(OrtEncoder(data, spec), reference)
        if not cos >= MIN_COSINE:  # also catches NaN
            raise Unsupported(f"exported vectors differ from sentence-transformers (cosine {cos:.5f})")
        atomic_write(Path(out), data)
    except Exception as e:  # noqa: BLE001 - the parent reads one line and falls back
        print(f"{type(e).__name__}: {e}".splitlines()[0][:300], file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(export_main(sys.argv[1:]))
