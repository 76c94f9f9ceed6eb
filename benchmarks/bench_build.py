"""Index build: `askknee build` end to end (imports and model load included) into a temp folder,
and `build_index` alone with the model warm; time, passages/s, peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import CORPUS, dir_size_mb, emit, summary_ms  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", default="all-MiniLM-L6-v2")
    p.add_argument("--repeat", type=int, default=3, help="warm build_index repetitions")
    a = p.parse_args(argv)
    askknee = Path(sys.executable).with_name("askknee")
    with tempfile.TemporaryDirectory(prefix="askknee-build-") as tmp:
        t = time.perf_counter()
        subprocess.run([str(askknee), "build", "--corpus", str(CORPUS), "--index", tmp, "--model", a.model,
                        "--json"], check=True, capture_output=True)
        cli_s = time.perf_counter() - t
        peak_child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        size = dir_size_mb(Path(tmp))
    from askknee.embedding import get_embedder
    from askknee.index import build_index
    from askknee.settings import Settings

    settings = Settings.from_env()
    emb = get_embedder(a.model, settings.backend)
    emb.encode(["warm up"])
    runs, n = [], 0
    for _ in range(a.repeat):
        t = time.perf_counter()
        idx = build_index(CORPUS, emb, progress=False, ann_threshold=settings.ann_threshold)
        runs.append(time.perf_counter() - t)
        n = len(idx.chunks)
    warm = summary_ms(runs)
    emit({"part": "build", "model": a.model, "passages": n, "vectors": int(idx.faiss_index.ntotal),
          "cli_build_s": round(cli_s, 2), "cli_peak_rss_mb": round(peak_child, 1), "index_mb": size,
          "warm_build_ms": warm, "warm_passages_per_s": round(n / (warm["p50"] / 1000), 1)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
