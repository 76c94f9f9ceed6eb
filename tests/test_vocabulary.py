"""Query rewriting: typo repair against the corpus's words, lay -> clinical expansion."""

from __future__ import annotations

import pytest

from pathlib import Path

from askknee.profile import load_profile
from askknee.vocabulary import Speller, Vocabulary

# The default corpus's vocabulary: its profile's entries, then the general ones.
KNEE = Vocabulary(load_profile(Path(__file__).resolve().parents[1] / "corpus").vocabulary)
expansion, expand_query = KNEE.expansion, KNEE.expand

CORPUS = ["Knee muscle spasms: dehydration, electrolyte imbalances and twitching.",
          "Relief: cold therapy, then heat therapy; gentle stretching."]


@pytest.mark.parametrize("typed, meant", [
    ("dehydation", "dehydration"), ("spazm", "spasm"), ("relife", "relief"),
    ("twitchin", "twitching"), ("electrolite", "electrolyte"), ("stretcing", "stretching"),
])
def test_speller_repairs_typos_to_corpus_words(typed, meant):
    assert Speller(CORPUS, KNEE).fix(typed) == meant


@pytest.mark.parametrize("word", ["bananas", "physio", "kneecap", "Knee", "is", "xq"])
def test_speller_leaves_english_corpus_and_short_words_alone(word):
    assert Speller(CORPUS, KNEE).fix(word) == word


@pytest.mark.parametrize("word", ["havent", "doesnt", "shouldnt", "theyre", "xray"])
def test_speller_keeps_contractions_and_vocabulary_words(word):
    # Each is within edit distance 2 of a corpus word ("have", "does", "should", "there", "ray").
    assert Speller(CORPUS + ["You have it, it does; there you should see a ray."], KNEE).fix(word) == word


def test_figuring_out_is_not_exercise_and_not_improving_means_persisting():
    assert "exercise" in expansion("i work out at the gym")
    extra = expansion("can i work out what sets it off")
    assert "exercise" not in extra and "determine" in extra
    assert "persist" in expansion("my knee havent got any better")
    assert "persist" not in expansion("my knee got better")


def test_speller_rewrites_a_whole_question_keeping_punctuation():
    assert Speller(CORPUS, KNEE).correct("why the relife, dehydation?") == "why the relief, dehydration?"


def test_specific_phrase_wins_over_its_words():
    # "hot water bottle" is heat therapy, not a question about drinking water.
    extra = expansion("hot water bottle on a knee cramp?")
    assert "heat therapy" in extra and "hydration" not in extra
    assert "hydration" in expansion("not drinking enough water")


def test_expand_query_keeps_the_question_first():
    assert expand_query("charley horse at night").startswith("charley horse at night ")
    assert expand_query("zzz") == "zzz"


def test_retriever_rewrites_and_variants_switch_it_off(fake_retriever):
    assert "dehydration" in fake_retriever.rewrite_query("dehydation knee")
    plain = fake_retriever.variant(rewrite=False)
    assert plain.rewrite_query("dehydation knee") == "dehydation knee"
    assert fake_retriever.rewrite is True  # the original is untouched
    with pytest.raises(TypeError):
        fake_retriever.variant(colour="red")


@pytest.mark.parametrize("center", [0.0, 0.4, 1.0])
def test_dense_scores_stay_in_unit_range(fake_retriever, center):
    hits = fake_retriever.variant(params=fake_retriever.params.with_(centering=center)).search("knee twitching at night", k=43, mode="dense")
    assert all(0.0 <= h.score <= 1.0 for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
