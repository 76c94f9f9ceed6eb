"""Retrieval evaluation: trec_eval-compatible metrics and reading budgets over BEIR data (`beir.py`).

- Labelled questions live in `data/eval/` in BEIR layout (`queries.jsonl`, `qrels/<split>.tsv`);
  each question also carries a short answer phrase quoted from the article, so any system's
  output, with any chunking, can be judged by its text.
- Rank metrics come from `ir-measures` (which wraps `pytrec_eval`, i.e. trec_eval itself).
- Hit rate at a reading budget: does an answer phrase appear within the first N characters of
  the ranked passages? It keeps comparisons honest across chunk sizes: a system returning one
  2,000-character chunk cannot "win" by making the reader read more.

Needs the optional `[eval]` extra (`ir-measures`, `matplotlib`).
"""

from __future__ import annotations

import json
import re
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import QueryError
from .beir import DATA_DIR, OOS_SPLIT, LabelledSet, Qrels, Run, load_split, ranked_ids, read_qrels, read_queries, read_run

BUDGETS = (300, 600)
DEPTH = 10  # passages ranked per question
RANK_MEASURES = ("R@1", "R@3", "R@5", "RR@10", "nDCG@10", "Success@1", "Success@3")
# Column names in tables and reports (RR@10 averaged over questions is MRR@10).
LABELS = {"R@1": "R@1", "R@3": "R@3", "R@5": "R@5", "RR@10": "MRR@10", "nDCG@10": "nDCG@10",
          "Success@1": "S@1", "Success@3": "S@3", "hit@300": "hit@300", "hit@600": "hit@600"}
METRICS = tuple(LABELS)

# ---------------------------------------------------------------- metrics

_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_TRANSLATE = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-", "*": None,
                            "_": None, "`": None, "#": None, "\\": None})


def normalise(text: str) -> str:
    """Lower case, plain quotes, markdown links/emphasis dropped, spaces collapsed.

    Applied to both passages and answer phrases, so raw-markdown chunks (as a plain text
    splitter produces) are judged on their words, not their markup.
    """
    return re.sub(r"\s+", " ", _LINK.sub(r"\1", text).translate(_TRANSLATE)).strip().lower()


def budget_hit(passages: Sequence[str], answers: Sequence[str], budget: int) -> bool:
    """Whether any answer phrase lies wholly within the first `budget` characters of the
    ranked passages (normalised and joined by one space)."""
    read = " ".join(normalise(p) for p in passages)[:budget]
    return any(normalise(a) in read for a in answers if a.strip())


def hit_rates(passages: Mapping[str, Sequence[str]], answers: Mapping[str, Sequence[str]],
              budgets: Sequence[int] = BUDGETS) -> dict[str, float]:
    """Share of questions (those with answers) answered within each reading budget."""
    qids = [q for q in answers if answers[q]]
    if not qids:
        return {}
    return {f"hit@{b}": sum(budget_hit(passages.get(q, ()), answers[q], b) for q in qids) / len(qids)
            for b in budgets}


def rank_metrics(qrels: Qrels, run: Run, measures: Sequence[str] = RANK_MEASURES) -> dict[str, float]:
    """Mean of each measure over the questions in `qrels` (a question missing from the run scores 0,
    as `trec_eval -c` does)."""
    import ir_measures

    parsed = [ir_measures.parse_measure(m) for m in measures]
    values: dict[str, dict[str, float]] = {str(m): {} for m in parsed}
    for r in ir_measures.iter_calc(parsed, qrels, {q: d for q, d in run.items() if q in qrels and d}):
        values[str(r.measure)][r.query_id] = r.value
    return {m: sum(v.get(q, 0.0) for q in qrels) / len(qrels) if qrels else 0.0 for m, v in values.items()}


def per_query_rr(qrels: Qrels, run: Run) -> dict[str, float]:
    """Reciprocal rank of the first relevant passage in the top 10, per question."""
    out = {}
    for q, rels in qrels.items():
        ranked = ranked_ids(run.get(q, {}))[:DEPTH]
        out[q] = next((1.0 / r for r, d in enumerate(ranked, start=1) if rels.get(d, 0) > 0), 0.0)
    return out


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(-(-p * len(s) // 100)) - 1))]


# ---------------------------------------------------------------- running retrievers


@dataclass(frozen=True)
class ConfigResult:
    """One retriever configuration scored on one split."""
    name: str
    metrics: dict[str, float]
    run: Run
    passages: dict[str, list[str]]      # query id -> ranked passage texts
    top_scores: dict[str, float]        # query id -> best score (for thresholds)
    latency_ms: tuple[float, ...] = ()  # one per question, warm, in process

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.latency_ms) if self.latency_ms else float("nan")

    @property
    def p95_ms(self) -> float:
        return percentile(self.latency_ms, 95)


SearchFn = Callable[[str], Sequence[tuple[str, str, float]]]  # question -> [(id, text, score)] best first


def score_config(name: str, search: SearchFn, labelled: LabelledSet, *, warmup: int = 3) -> ConfigResult:
    """Run one configuration over a labelled set, timing each question."""
    for q in labelled.queries[:warmup]:
        search(q.text)
    run: Run = {}
    passages: dict[str, list[str]] = {}
    top: dict[str, float] = {}
    times = []
    for q in labelled.queries:
        t0 = time.perf_counter()
        hits = list(search(q.text))
        times.append((time.perf_counter() - t0) * 1000)
        # Run scores are made from ranks: trec_eval re-sorts by score, and tied scores would let
        # it reorder passages that our ranking put in a definite order.
        run[q.id] = {doc: float(len(hits) - r) for r, (doc, _, _) in enumerate(hits)}
        passages[q.id] = [text for _, text, _ in hits]
        top[q.id] = float(hits[0][2]) if hits else 0.0
    metrics = rank_metrics(labelled.qrels, run) if labelled.qrels else {}
    metrics.update(hit_rates(passages, labelled.answers))
    return ConfigResult(name, metrics, run, passages, top, tuple(times))


def retriever_search(retriever, mode: str, k: int = DEPTH) -> SearchFn:
    def search(question: str):
        return [(h.chunk.id, h.chunk.text, h.score) for h in retriever.search(question, k=k, mode=mode)]
    return search


# Ablations compared by `askknee eval` (name -> the default retriever with one thing switched off).
VARIANTS = {
    "fused-no-rewrite": lambda r: r.variant(rewrite=False),
    "fused-plain-cosine": lambda r: r.variant(params=r.params.with_(centering=0.0)),
}
# Shown only when the index has a query adapter.
ADAPTER_VARIANTS = {
    "fused-no-adapter": lambda r: r.variant(adapter=None),
    "fused-no-question-memory": lambda r: r.variant(adapter=r.adapter.without_memory()),
    "fused-no-passage-prototypes": lambda r: r.variant(adapter=r.adapter.without_prototypes()),
}


def retriever_configs(retriever) -> dict[str, SearchFn]:
    """The configurations compared by `askknee eval`: dense, lexical, fused and its variants."""
    configs = {mode: retriever_search(retriever, mode) for mode in ("dense", "lexical", "fused")}
    variants = {**VARIANTS, **(ADAPTER_VARIANTS if retriever.adapter is not None else {})}
    for name, make in variants.items():
        configs[name] = retriever_search(make(retriever), "fused")
    return configs


def evaluate(retriever, split: str = "dev", data_dir: Path = DATA_DIR,
             configs: Mapping[str, SearchFn] | None = None) -> list[ConfigResult]:
    labelled = load_split(split, data_dir)
    configs = configs if configs is not None else retriever_configs(retriever)
    return [score_config(name, fn, labelled) for name, fn in configs.items()]


# ---------------------------------------------------------------- threshold curve


@dataclass(frozen=True)
class CurvePoint:
    threshold: float
    answered: float        # share of in-scope questions answered (top score >= threshold)
    answered_right: float  # ... and the top passage is relevant
    declined_oos: float    # share of out-of-scope questions declined


def threshold_curve(in_scope: ConfigResult, qrels: Qrels, oos_top: Mapping[str, float],
                    steps: int = 101) -> list[CurvePoint]:
    """Answer/decline trade-off of thresholding the top-1 score."""
    first = {q: (ranked_ids(in_scope.run[q]) or [None])[0] for q in in_scope.run}
    n_in, n_oos = len(in_scope.top_scores), len(oos_top)
    out = []
    for i in range(steps):
        t = i / (steps - 1)
        ans = [q for q, s in in_scope.top_scores.items() if s >= t]
        right = [q for q in ans if qrels.get(q, {}).get(first[q], 0) > 0]
        out.append(CurvePoint(t, len(ans) / n_in if n_in else 0.0, len(right) / n_in if n_in else 0.0,
                              sum(s < t for s in oos_top.values()) / n_oos if n_oos else 0.0))
    return out


# ---------------------------------------------------------------- output


def format_table(results: Sequence[ConfigResult], extra: Sequence[ConfigResult] = ()) -> str:
    rows = list(results) + list(extra)
    metrics = [m for m in METRICS if any(m in r.metrics for r in rows)]
    width = max([22] + [len(r.name) + 1 for r in rows])
    head = f"{'configuration':<{width}}" + "".join(f"{LABELS[m]:>9}" for m in metrics) + f"{'p50 ms':>9}{'p95 ms':>9}"
    lines = [head, "-" * len(head)]
    for r in rows:
        cells = "".join(f"{r.metrics[m]:>9.3f}" if m in r.metrics else f"{'-':>9}" for m in metrics)
        lat = f"{r.p50_ms:>9.1f}{r.p95_ms:>9.1f}" if r.latency_ms else f"{'-':>9}{'-':>9}"
        lines.append(f"{r.name:<{width}}{cells}{lat}")
    return "\n".join(lines)


def results_json(split: str, results: Sequence[ConfigResult], n: int) -> dict:
    return {"split": split, "questions": n, "configurations": [
        {"name": r.name, "metrics": {LABELS[m]: round(v, 4) for m, v in r.metrics.items()},
         "latency_ms": {"p50": round(r.p50_ms, 2), "p95": round(r.p95_ms, 2)} if r.latency_ms else None}
        for r in results]}


def write_report(out_dir: Path, split: str, results: Sequence[ConfigResult],
                 curve: Sequence[CurvePoint] = (), curve_config: str = "fused",
                 threshold: float | None = None, n_oos: int = 0) -> list[Path]:
    """`report.md` plus `metrics.png` (grouped bars) and, with a curve, `threshold.png`."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and CI
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics = [m for m in METRICS if any(m in r.metrics for r in results)]
    fig, ax = plt.subplots(figsize=(11, 4.8))
    width = 0.8 / max(1, len(results))
    for i, r in enumerate(results):
        xs = [j + i * width for j in range(len(metrics))]
        ax.bar(xs, [r.metrics.get(m, 0.0) for m in metrics], width, label=r.name)
    ax.set_xticks([j + width * (len(results) - 1) / 2 for j in range(len(metrics))],
                  [LABELS[m] for m in metrics])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score")
    ax.set_title(f"Retrieval on the {split} split ({len(results[0].run) if results else 0} questions)")
    ax.grid(axis="y", alpha=0.3)
    fig.legend(*ax.get_legend_handles_labels(), fontsize=8, ncols=min(5, len(results)), loc="lower center")
    fig.tight_layout(rect=(0, 0.07 * (1 + (len(results) - 1) // 5), 1, 1))  # legend below, off the bars
    paths = [out_dir / "metrics.png"]
    fig.savefig(paths[0], dpi=110)
    plt.close(fig)
    if curve:
        fig, ax = plt.subplots(figsize=(7, 5.2))
        ts = [p.threshold for p in curve]
        ax.plot(ts, [p.answered for p in curve], label="in-scope answered")
        ax.plot(ts, [p.answered_right for p in curve], label="in-scope answered, top passage relevant")
        ax.plot(ts, [p.declined_oos for p in curve], label=f"out-of-scope declined ({n_oos})")
        if threshold is not None:
            ax.axvline(threshold, color="grey", linestyle="--", label=f"current threshold {threshold:.2f}")
        ax.set_xlabel(f"threshold on the {curve_config} top-1 score")
        ax.set_ylabel("share of questions")
        ax.set_ylim(0, 1.02)
        ax.set_title("Answer / decline trade-off")
        ax.grid(alpha=0.3)
        fig.legend(*ax.get_legend_handles_labels(), fontsize=8, ncols=2, loc="lower center")
        fig.tight_layout(rect=(0, 0.14, 1, 1))
        paths.append(out_dir / "threshold.png")
        fig.savefig(paths[1], dpi=110)
        plt.close(fig)
    lines = [f"# Retrieval evaluation — `{split}` split", "",
             f"{len(results[0].run) if results else 0} labelled questions; ranked depth {DEPTH}. "
             "R@k is trec_eval recall (share of a question's relevant passages in the top k); "
             "S@k: any relevant passage in the top k; hit@N: an answer phrase within the first N "
             "characters of the ranked passages. Latency: warm, in process, one question at a time.", "",
             "```", format_table(results), "```", "", "![metrics](metrics.png)", ""]
    if curve:
        lines += ["## Answer / decline threshold", "",
                  f"Top-1 `{curve_config}` score thresholded; {n_oos} out-of-scope questions.", "",
                  "![threshold](threshold.png)", "", "| threshold | answered | answered, right | oos declined |",
                  "|---:|---:|---:|---:|"]
        lines += [f"| {p.threshold:.2f} | {p.answered:.2f} | {p.answered_right:.2f} | {p.declined_oos:.2f} |"
                  for p in curve[::5]]
    paths.append(out_dir / "report.md")
    paths[-1].write_text("\n".join(lines) + "\n", encoding="utf-8")
    return paths


# ---------------------------------------------------------------- command line


def score_run_file(run_path: Path, qrels_path: Path | None, corpus_dir: Path, as_json: bool = False) -> int:
    """`askknee eval --run RUN --qrels QRELS`: rank metrics of a TREC run (and text hit rates when
    the run ranks our passages for our labelled questions)."""
    if not qrels_path:
        raise QueryError("--run needs --qrels QRELS (BEIR tsv or TREC qrels)")
    qrels = read_qrels(Path(qrels_path))
    run = read_run(Path(run_path))
    if not qrels:
        raise QueryError(f"{qrels_path} has no judgements")
    metrics = rank_metrics(qrels, run)
    # Text hit rates too, when the run's passages are ours and its questions are labelled.
    try:
        from ..chunking import chunk_corpus
        from ..ingest import load_corpus

        texts = {c.id: c.text for c in chunk_corpus(load_corpus(corpus_dir))}
        answers = {q.id: q.answers for q in read_queries(DATA_DIR / "queries.jsonl") if q.id in qrels}
        passages = {q: [texts[d] for d in ranked_ids(run.get(q, {}))[:DEPTH] if d in texts] for q in answers}
        if answers and all(d in texts for docs in run.values() for d in docs):
            metrics.update(hit_rates(passages, answers))
    except Exception:  # noqa: BLE001 - hit rates are a bonus; rank metrics stand alone
        pass
    result = ConfigResult(Path(run_path).name, metrics, run, {}, {})
    if as_json:
        print(json.dumps(results_json("run", [result], len(qrels)), indent=2))
    else:
        print(f"{Path(run_path).name} against {qrels_path}: {len(qrels)} questions\n")
        print(format_table([result]))
    return 0


def main(settings, split: str = "dev", as_json: bool = False, report: Path | None = None) -> int:
    """`askknee eval`: score every retriever configuration on a split (and write a report)."""
    from ..retrieval import Retriever

    retriever = Retriever.from_settings(settings)
    labelled = load_split(split)
    results = evaluate(retriever, split)
    if as_json:
        print(json.dumps(results_json(split, results, len(labelled.queries)), indent=2))
    else:
        print(f"split {split}: {len(labelled.queries)} questions, model {settings.model}\n")
        print(format_table(results))
    fitted_on = (retriever.adapter.meta.get("fitted_on") if retriever.adapter is not None else None)
    if fitted_on == split:
        print(f"note: the query adapter was fitted on these {split} questions, so the figures with it "
              "are in-sample; `askknee fit-adapter --cv 5` prints out-of-fold ones", file=sys.stderr)
    if report:
        oos = load_split(OOS_SPLIT)
        fused = next(r for r in results if r.name == "fused")
        oos_result = score_config("fused", retriever_search(retriever, "fused"), oos)
        curve = threshold_curve(fused, labelled.qrels, oos_result.top_scores)
        paths = write_report(Path(report), split, results, curve, "fused",
                             retriever.params.answer_threshold, len(oos.queries))
        print(f"wrote {', '.join(str(p) for p in paths)}", file=sys.stderr)
    return 0
