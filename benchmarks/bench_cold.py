"""Cold start: `python app.py` until the first `/chat` request is answered, with the committed index
and with no index (rebuilt at start), both with the ONNX export cached; and a machine's very
first start (empty ONNX cache: sentence-transformers loads and the model is exported). The
server's RSS once warm.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, Server, emit, questions  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--runs", type=int, default=3, help="starts per case")
    a = p.parse_args(argv)
    out = {"part": "cold"}
    q = questions()[0]
    for case in ("committed-index", "no-index", "first-start-no-onnx-cache"):
        times, rss = [], []
        for _ in range(a.runs if case != "first-start-no-onnx-cache" else 1):
            with tempfile.TemporaryDirectory(prefix="askknee-cold-") as tmp:
                env = {"committed-index": {}, "no-index": {"ASKKNEE_INDEX": tmp},
                       "first-start-no-onnx-cache": {"ASKKNEE_CACHE_DIR": tmp}}[case]
                s = Server(ROOT / "app.py", env)
                try:
                    secs, reply = s.first_answer(q)
                    assert "consult a professional" in reply, reply[:200]
                    times.append(round(secs, 2))
                    rss.append(s.rss_mb())
                finally:
                    s.stop()
        out[case] = {"first_answer_s": times, "best_s": min(times), "median_s": sorted(times)[len(times) // 2],
                     "rss_mb": rss}
    emit(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
