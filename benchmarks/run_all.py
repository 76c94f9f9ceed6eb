"""Run the benchmarks and collect their figures: `python benchmarks/run_all.py [--parts ...] [--sizes ...]`.

Each part runs in its own process (so peak RSS is that part's); results are printed and written
as JSON to `--out`. Not part of the test run; figures are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

PARTS = ("latency", "build", "cold", "load", "scale")


def run(args: list[str]) -> list[dict]:
    print("+", " ".join(args), file=sys.stderr, flush=True)
    p = subprocess.run([sys.executable, *args], capture_output=True, text=True)
    if p.returncode:
        sys.stderr.write(p.stderr[-3000:])
        raise SystemExit(f"{args[0]} failed ({p.returncode})")
    return [json.loads(line[len("RESULT "):]) for line in p.stdout.splitlines() if line.startswith("RESULT ")]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    p.add_argument("--sizes", default="1000,10000,100000", help="synthetic corpus sizes for `scale`")
    p.add_argument("--scale-model", default="all-MiniLM-L6-v2",
                   help="model that embeds the synthetic corpora (e.g. hashing:384 when the real one is too slow)")
    p.add_argument("--sessions", default="1,8,32")
    p.add_argument("--out", default="artifacts/benchmarks.json")
    a = p.parse_args(argv)
    from common import machine

    results = {"machine": machine(), "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "parts": []}
    for part in a.parts.split(","):
        if part == "scale":
            for n in a.sizes.split(","):
                extra = ["--query-model", "all-MiniLM-L6-v2"] if a.scale_model != "all-MiniLM-L6-v2" else []
                results["parts"] += run([str(HERE / "bench_scale.py"), "--size", n, "--model", a.scale_model, *extra])
        elif part == "load":
            results["parts"] += run([str(HERE / "bench_load.py"), "--sessions", a.sessions])
        elif part in PARTS:
            results["parts"] += run([str(HERE / f"bench_{part}.py")])
        else:
            raise SystemExit(f"unknown part {part!r}; choose from {', '.join(PARTS)}")
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    print(f"written to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
