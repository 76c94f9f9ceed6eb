"""Chunking invariants on the real article."""

from __future__ import annotations

import re

import pytest

from askknee.chunking import chunk_article, chunk_corpus, search_text, size_report
from askknee.ingest import load_corpus
from askknee.types import Chunk

from conftest import CORPUS


@pytest.fixture(scope="module")
def chunks():
    return chunk_corpus(load_corpus(CORPUS))


def test_ids_unique_and_stable(chunks):
    ids = [c.id for c in chunks]
    assert len(ids) == len(set(ids))
    again = [c.id for c in chunk_corpus(load_corpus(CORPUS))]
    assert ids == again
    assert "knee-muscle-spasm:faq:01" in ids
    assert all(re.fullmatch(r"[a-z0-9-]+:[a-z0-9-]+:\d{2}", i) for i in ids)


def test_passages_are_glanceable_and_clean(chunks):
    assert 30 <= len(chunks) <= 80
    for c in chunks:
        assert 20 <= len(c.text) <= 600, c.id
        assert not re.search(r"\]\(|https?://|\*\*|!\[|\\", c.text), c.id
        assert c.text == c.text.strip() and "  " not in c.text


def test_every_passage_carries_heading_context_and_section_link(chunks):
    for c in chunks:
        assert c.heading_path[0] == "Knee Muscle Spasm: Relief and Prevention Essentials"
        assert c.url.startswith("https://docus.ai/symptoms-guide/knee-muscle-spasm")
        if c.kind != "intro":
            assert c.url.endswith("#" + c.anchor) and c.anchor


def test_never_across_sections(chunks):
    headings = {"What Causes", "Symptoms of", "When to See", "Home Remedies", "Medical Interventions"}
    for c in chunks:
        # a passage never contains another section's heading
        assert sum(h in c.text for h in headings) <= 1
    by_id = {c.id: c for c in chunks}
    assert by_id["knee-muscle-spasm:when-to-see-a-doctor:01"].heading_path[-1] == "When to See a Doctor"


def test_faq_pairs_are_single_passages(chunks):
    faqs = [c for c in chunks if c.kind == "faq"]
    assert len(faqs) == 5
    for c in faqs:
        assert c.question and c.text.startswith(c.question)
        assert c.url.endswith("#frequently-asked-questions")


def test_search_text_includes_context_and_lead(chunks):
    c = next(c for c in chunks if c.id == "knee-muscle-spasm:when-to-see-a-doctor:02")
    st = search_text(c)
    assert "When to See a Doctor" in st and "scheduling an appointment" in st and c.text in st


def test_chunk_dict_round_trip(chunks):
    for c in chunks:
        assert Chunk.from_dict(c.to_dict()) == c


def test_long_paragraph_split_at_sentences():
    from askknee.ingest import parse_article

    para = " ".join(f"Sentence number {i} says something about the knee." for i in range(40))
    art = parse_article(f"---\nurl: https://x.org/a\n---\n# T\n\n## S\n\n{para}\n", article_id="a")
    pieces = chunk_article(art)
    assert len(pieces) > 1 and all(len(p.text) <= 500 for p in pieces)
    assert " ".join(p.text for p in pieces) == para


def test_size_report(chunks):
    r = size_report(chunks)
    assert r["chunks"] == len(chunks)
    assert r["chars_min"] <= r["chars_median"] <= r["chars_max"]
    assert r["by_kind"]["faq"] == 5
