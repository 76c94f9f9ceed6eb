"""Another article, on another subject, served with no code change: its folder holds the article and
its profile (askknee.toml); `askknee build` makes the index; the chat answers, declines and follows up."""

from __future__ import annotations

from pathlib import Path

import pytest

from askknee import web
from askknee.answering import Answerer
from askknee.cli import main
from askknee.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.integration]

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "tension-headache"
URL = "https://example.org/symptoms-guide/tension-headache"


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory):
    index_dir = tmp_path_factory.mktemp("headache-index")
    assert main(["build", "--corpus", str(FIXTURE), "--index", str(index_dir)]) == 0
    return index_dir


@pytest.fixture(scope="module")
def headache(index_dir):
    return Answerer.from_settings(Settings().with_(corpus_dir=FIXTURE, index_dir=index_dir))


def _from_this_article(answer) -> bool:
    return bool(answer.sources) and all(s.url.startswith(URL) for s in answer.sources)


def test_build_writes_the_index_and_its_parameters(index_dir):
    assert {"manifest.json", "chunks.jsonl", "vectors.faiss", "params.json"} <= {p.name for p in index_dir.iterdir()}


def test_it_answers_from_the_article_with_its_links(headache):
    answer = headache.reply("what usually causes tension headaches?")
    assert answer.status == "answered" and _from_this_article(answer)
    assert "Stress and Anxiety" in answer.text and "knee" not in answer.text.lower()


def test_it_declines_what_the_article_does_not_cover(headache):
    answer = headache.reply("how do I change the oil in my car?")
    assert answer.status == "out_of_scope" and not answer.sources


def test_a_follow_up_takes_the_subject_from_the_profile(headache):
    first, second = headache.converse(["what causes tension headaches?", "how do I get rid of them at home?"])
    assert "tension headaches" in second.resolved_question.lower()
    assert second.status == "answered" and _from_this_article(second)
    assert "knee" not in second.text.lower()


def test_the_page_takes_its_title_and_examples_from_the_profile(headache):
    assert web.page_title(headache) == "Ask about tension headaches"
    assert web.faq_examples(headache)[0] == "What causes tension headaches?"
    assert headache.profile.placeholder.startswith("Ask a question about tension headaches")


def test_an_emergency_is_still_an_emergency(headache):
    answer = headache.reply("worst headache of my life came on suddenly and my face is drooping")
    assert answer.status == "emergency"
