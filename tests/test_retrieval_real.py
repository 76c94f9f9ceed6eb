"""The real bundled model on the real article: a few visitor phrasings land on the right passage."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("question, expected", [
    ("charley horse behind my knee, why??", "knee-muscle-spasm:faq:0"),
    ("would seeing a physio help", "knee-muscle-spasm:medical-interventions:02"),
    ("how much water shoud i drink", "knee-muscle-spasm:home-remedies:02"),
    ("when do i need to see a doctor about it", "knee-muscle-spasm:when-to-see-a-doctor:0"),
])
def test_visitor_phrasings(real_retriever, question, expected):
    top3 = [h.chunk.id for h in real_retriever.search(question, k=3)]
    assert any(i.startswith(expected) for i in top3), top3


def test_off_topic_scores_below_on_topic(real_retriever):
    on = real_retriever.search("what causes knee muscle spasms", k=1)[0].score
    off = real_retriever.search("how do I renew my passport", k=1)[0].score
    assert off < on - 0.2
