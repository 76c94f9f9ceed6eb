"""Cold start: `python app.py` until the first `/chat` request is answered, with the committed index
and with no index (rebuilt at start); the server's RSS once warm.
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
    for case in ("committed-index", "no-index"):
        times, rss = [], []
        for _ in range(a.runs):
            with tempfile.TemporaryDirectory(prefix="askknee-cold-") as tmp:
                env = {} if case == "committed-index" else {"ASKKNEE_INDEX": tmp}
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
