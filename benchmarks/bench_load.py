"""Over the API, loopback: askknee's `/chat` against a bare echo ChatInterface (same run, requests
interleaved), then N concurrent `gradio_client` sessions each asking a mix of questions.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, Server, emit, questions, summary_ms  # noqa: E402

HERE = Path(__file__).resolve().parent


def api_vs_echo(app: Server, echo: Server, n: int) -> dict:
    from gradio_client import Client

    ca, ce = Client(app.url, verbose=False), Client(echo.url, verbose=False)
    qs = questions()
    for q in qs[:3]:
        ca.predict(q, api_name="/chat")
        ce.predict(q, api_name="/chat")
    ta, te = [], []
    for i in range(n):
        q = qs[i % len(qs)]
        for client, out in ((ca, ta), (ce, te)) if i % 2 else ((ce, te), (ca, ta)):
            t = time.perf_counter()
            client.predict(q, api_name="/chat")
            out.append(time.perf_counter() - t)
    a, e = summary_ms(ta), summary_ms(te)
    return {"askknee": a, "echo": e, "p50_overhead_ms": round(a["p50"] - e["p50"], 2),
            "p95_overhead_ms": round(a["p95"] - e["p95"], 2)}


def load(app: Server, sessions: int, per_session: int) -> dict:
    from gradio_client import Client

    qs = questions()
    lat, errors, lock = [], [], threading.Lock()
    clients = [Client(app.url, verbose=False) for _ in range(sessions)]
    barrier = threading.Barrier(sessions + 1)

    def visitor(i: int) -> None:
        barrier.wait()
        for j in range(per_session):
            q = qs[(i * 7 + j) % len(qs)]
            t = time.perf_counter()
            try:
                reply = clients[i].predict(q, api_name="/chat")
                ok = isinstance(reply, str) and "consult a professional" in reply
            except Exception as e:  # noqa: BLE001 - counted, not raised
                ok, reply = False, f"{type(e).__name__}: {e}"
            with lock:
                (lat.append(time.perf_counter() - t) if ok else errors.append(str(reply)[:200]))

    threads = [threading.Thread(target=visitor, args=(i,)) for i in range(sessions)]
    for th in threads:
        th.start()
    barrier.wait()
    t = time.perf_counter()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t
    return {"sessions": sessions, "requests": sessions * per_session, "errors": len(errors),
            "error_examples": errors[:3], "wall_s": round(wall, 2),
            "throughput_rps": round(len(lat) / wall, 2), "latency": summary_ms(lat) if lat else None,
            "server_rss_mb": app.rss_mb()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--sessions", default="1,8,32", help="concurrent sessions, comma-separated")
    p.add_argument("--per-session", type=int, default=8, help="questions each session asks")
    p.add_argument("--api-requests", type=int, default=60, help="interleaved askknee/echo request pairs")
    a = p.parse_args(argv)
    app, echo = Server(ROOT / "app.py"), Server(HERE / "echo_app.py")
    try:
        app.first_answer(questions()[0])
        echo.first_answer("hello")
        out = {"part": "load", "api": api_vs_echo(app, echo, a.api_requests), "load": []}
        echo.stop()
        for n in (int(x) for x in a.sessions.split(",")):
            out["load"].append(load(app, n, a.per_session))
        out["server_rss_after_mb"] = app.rss_mb()
    finally:
        app.stop()
        echo.stop()
    emit(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
