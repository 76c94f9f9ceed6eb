"""Follow-ups are resolved against earlier turns; full questions are left alone."""

import pytest

from pathlib import Path

from askknee.conversation import Conversation
from askknee.profile import load_profile

KNEE = Conversation(load_profile(Path(__file__).resolve().parents[1] / "corpus").topic_pattern())
resolve, is_follow_up = KNEE.resolve, KNEE.is_follow_up


@pytest.mark.parametrize("history,message,expect_in", [
    (["what causes knee spasms?"], "how do I treat them?", "knee spasms"),
    (["what does a knee spasm feel like?"], "and how long does it last?", "knee spasm"),
    (["how do I relieve a knee spasm?"], "what if it doesn't stop?", "knee spasm"),
    (["what stretches help knee spasms?"], "which muscles?", "stretches"),
])
def test_follow_ups_take_the_topic(history, message, expect_in):
    resolved = resolve(message, history)
    assert resolved != message and expect_in in resolved


def test_pronoun_is_replaced_not_the_old_question_appended():
    resolved = resolve("how do I treat them?", ["what causes knee spasms?"])
    assert resolved == "how do I treat knee spasms?"
    assert "causes" not in resolved


@pytest.mark.parametrize("message", [
    "what causes knee muscle spasms?", "why is my knee twitching?",
    "how long do knee cramps last and how do I stop them?",
])
def test_full_questions_are_not_polluted(message):
    assert not is_follow_up(message)
    assert resolve(message, ["does stretching help knee spasms?", "which muscles?"]) == message


def test_no_history_changes_nothing():
    assert resolve("how do I treat them?", []) == "how do I treat them?"
    assert resolve("how do I treat them?", None) == "how do I treat them?"


def test_chained_follow_ups_keep_the_first_topic():
    history = ["why is my knee twitching?", "what causes it?"]
    assert "knee twitching" in resolve("how do I stop it?", history)


def test_history_without_a_topic_leaves_message_alone():
    assert resolve("which muscles?", ["hi", "🙂"]) == "which muscles?"


def test_long_conversation_of_follow_ups_resolves_quickly():
    """Each earlier turn is resolved once: a long run of short follow-ups stays linear."""
    import time


    history = ["what causes knee spasms?"] + ["and why?", "how so?", "ok and?"] * 20
    started = time.perf_counter()
    out = resolve("how do I treat them?", history)
    assert time.perf_counter() - started < 1.0
    assert out == "how do I treat knee spasms?"
