"""Shared helpers for the benchmarks: timing summaries, RSS, machine description, synthetic corpora."""

from __future__ import annotations

import json
import os
import platform
import random
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from askknee.settings import prepare_process

prepare_process()  # as app.py and the CLI do, before faiss and ONNX Runtime load

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"
QUESTIONS = Path(__file__).with_name("questions.txt")


def questions() -> list[str]:
    """The benchmark's mix of visitor questions (on-topic, lay, off-topic, emergency)."""
    return [q.strip() for q in QUESTIONS.read_text(encoding="utf-8").splitlines()
            if q.strip() and not q.startswith("#")]


def summary_ms(seconds: list[float]) -> dict:
    """p50/p95/p99/mean/max in milliseconds."""
    a = np.asarray(seconds, dtype=float) * 1000
    return {"n": int(a.size), "p50": round(float(np.percentile(a, 50)), 2),
            "p95": round(float(np.percentile(a, 95)), 2), "p99": round(float(np.percentile(a, 99)), 2),
            "mean": round(float(a.mean()), 2), "max": round(float(a.max()), 2)}


def timed(fn, items, repeat: int = 1, warmup: int = 3) -> list[float]:
    """Wall time of fn(item) for every item, `repeat` rounds, after `warmup` untimed calls."""
    for item in items[:warmup]:
        fn(item)
    out = []
    for _ in range(repeat):
        for item in items:
            t = time.perf_counter()
            fn(item)
            out.append(time.perf_counter() - t)
    return out


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def rss_mb(pid: int | None = None) -> float:
    import psutil

    return round(psutil.Process(pid or os.getpid()).memory_info().rss / 2**20, 1)


def dir_size_mb(path: Path) -> float:
    return round(sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file()) / 2**20, 2)


def _cmd(args: list[str]) -> str:
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "n/a"


def machine() -> dict:
    """What the figures were measured on."""
    lscpu = _cmd(["lscpu"])
    keep = ("Architecture", "Model name", "CPU(s)", "Thread(s) per core", "Core(s) per socket",
            "Socket(s)", "CPU max MHz", "L2 cache", "L3 cache", "Flags")
    cpu = {}
    for line in lscpu.splitlines():
        k, _, v = line.partition(":")
        if k.strip() in keep:
            v = v.strip()
            if k.strip() == "Flags":
                v = " ".join(f for f in v.split() if f.startswith(("avx", "sse4", "fma")))
            cpu[k.strip()] = v
    versions = {"python": platform.python_version()}
    for mod in ("torch", "faiss", "sentence_transformers", "onnxruntime", "gradio", "gradio_client", "bm25s", "numpy"):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - a missing module is just reported
            versions[mod] = "n/a"
    return {"nproc": _cmd(["nproc"]), "lscpu": cpu, "free_h": _cmd(["free", "-h"]),
            "kernel": platform.release(), "versions": versions}


# --- synthetic corpora -------------------------------------------------------------------------

_WORD = re.compile(r"[A-Za-z][A-Za-z'-]+")


def _seed_sentences() -> tuple[list[str], list[str]]:
    """Sentences and words of the real article: the raw material for synthetic ones."""
    from askknee.chunking import chunk_corpus, split_sentences
    from askknee.ingest import load_corpus

    chunks = chunk_corpus(load_corpus(CORPUS))
    sentences = [s for c in chunks for s in split_sentences(c.text) if len(s) > 40]
    words = [w.lower() for s in sentences for w in _WORD.findall(s)]
    return sentences, words


def write_synthetic_corpus(out_dir: Path, passages: int, *, per_article: int = 100, seed: int = 7) -> int:
    """Write articles totalling about `passages` paragraphs; returns the number of files.

    Each paragraph is 2-3 of the article's sentences with a third of their words swapped for
    other words of the article, so the text looks like the domain but every vector is distinct.
    """
    rng = random.Random(seed)
    sentences, words = _seed_sentences()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = 0
    remaining = passages
    while remaining > 0:
        n = min(per_article, remaining)
        files += 1
        slug = f"synthetic-{files:05d}"
        lines = ["---", f"url: https://example.org/articles/{slug}", "---", "",
                 f"# Synthetic article {files}: {' '.join(rng.sample(words, 4))}", ""]
        for p in range(n):
            if p % 10 == 0:
                lines += [f"## Section {p // 10 + 1} {' '.join(rng.sample(words, 3))}", ""]
            para = []
            for s in rng.sample(sentences, rng.randint(2, 3)):
                toks = s.split()
                for i in range(len(toks)):
                    if rng.random() < 0.33:
                        toks[i] = rng.choice(words)
                para.append(" ".join(toks))
            text = " ".join(para)
            lines += [text[:480].rsplit(" ", 1)[0] + ".", ""]  # under MAX_CHARS: one passage each
        (out_dir / f"{slug}.md").write_text("\n".join(lines), encoding="utf-8")
        remaining -= n
    return files


def emit(result: dict) -> None:
    """Print a result as the last stdout line (the runner reads it)."""
    sys.stdout.flush()
    print("RESULT " + json.dumps(result), flush=True)


# --- servers ---------------------------------------------------------------------------------------

def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`python SCRIPT` on a free loopback port; `.ready()` waits until `/chat` answers."""

    def __init__(self, script: Path, env: dict | None = None, log: Path | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = log or Path(os.environ.get("TMPDIR", "/tmp")) / f"askknee-bench-{self.port}.log"
        full_env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(self.port),
                    "GRADIO_ANALYTICS_ENABLED": "False", **(env or {})}
        self.started = time.perf_counter()
        self._logf = open(self.log, "w")
        self.proc = subprocess.Popen([sys.executable, str(script)], cwd=ROOT, env=full_env,
                                     stdout=self._logf, stderr=subprocess.STDOUT, start_new_session=True)

    def first_answer(self, question: str, timeout: float = 300) -> tuple[float, str]:
        """Seconds from launch until a `/chat` request is answered, and the answer."""
        from gradio_client import Client

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited ({self.proc.returncode}); see {self.log}")
            try:
                reply = Client(self.url, verbose=False).predict(question, api_name="/chat")
                return time.perf_counter() - self.started, reply
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(0.05)
        raise TimeoutError(f"{self.url} not answering after {timeout}s; see {self.log}")

    def rss_mb(self) -> float:
        return rss_mb(self.proc.pid)

    def stop(self) -> None:
        import signal

        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._logf.close()
