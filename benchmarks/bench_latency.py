"""In-process latency: retrieval (`Retriever.search`) and a full answer (`Answerer.reply`), warm,
over the committed index and the real model; plus the question embedding alone.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import emit, peak_rss_mb, questions, rss_mb, summary_ms, timed  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rounds", type=int, default=8, help="passes over the question set")
    a = p.parse_args(argv)
    from askknee.answering import Answerer
    from askknee.settings import Settings

    t = time.perf_counter()
    answerer = Answerer.from_settings(Settings())
    answerer.reply(questions()[0])
    warm_s = time.perf_counter() - t
    r = answerer.retriever
    qs = questions()
    out = {"part": "latency", "model": r.embedder.name, "backend": getattr(r.embedder, "backend", "?"),
           "passages": len(r.chunks),
           "load_and_first_answer_s": round(warm_s, 2)}
    out["embed_question"] = summary_ms(timed(lambda q: r.embedder.encode([q]), qs, repeat=a.rounds))
    out["retrieval"] = summary_ms(timed(lambda q: r.search(q, k=5), qs, repeat=a.rounds))
    out["answer"] = summary_ms(timed(lambda q: answerer.reply(q), qs, repeat=a.rounds))
    # CPU time (all of the process's threads): what a query costs when the cores are not shared
    # (wall time on a busy machine mostly measures waiting for a core).
    for name, fn in (("embed_question_cpu", lambda q: r.embedder.encode([q])),
                     ("retrieval_cpu", lambda q: r.search(q, k=5)),
                     ("answer_cpu", lambda q: answerer.reply(q))):
        cpu = []
        for _ in range(a.rounds):
            for q in qs:
                t = time.process_time()
                fn(q)
                cpu.append(time.process_time() - t)
        out[name] = summary_ms(cpu)
    out["rss_mb"] = rss_mb()
    out["peak_rss_mb"] = peak_rss_mb()
    emit(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
