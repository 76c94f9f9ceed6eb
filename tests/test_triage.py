"""Safety triage: the classifier and the rules together, fitted here on a tiny bank with the
hashing embedder (the real classifier's figures come from `askknee eval --safety`)."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from askknee.triage import (
    DOSING,
    EMERGENCY,
    NONE,
    RED_FLAG,
    Triage,
    Triager,
    load_model,
    save_model,
    segments,
)
from askknee.tuning.triage import (
    Encoder,
    Message,
    choose_thresholds,
    evaluate,
    fit_model,
    load_bank,
    with_thresholds,
)

BANK = [
    ("my leg went ice cold and grey and I cannot move my toes", EMERGENCY, "limb_blood_supply"),
    ("his foot is grey and icy and he cannot move it", EMERGENCY, "limb_blood_supply"),
    ("grey icy foot cannot move toes", EMERGENCY, "limb_blood_supply"),
    ("her lips look blue and she is gasping for air", EMERGENCY, "clot"),
    ("lips going blue gasping for air now", EMERGENCY, "clot"),
    ("how many tablets of the muscle relaxer can I swallow in a day", DOSING, ""),
    ("how many tablets of ibuprofen a day is the most", DOSING, ""),
    ("how many tablets should my mum swallow", DOSING, ""),
    ("the spasms wake me every single night now", RED_FLAG, "frequency"),
    ("spasms wake me every night and ruin my sleep", RED_FLAG, "frequency"),
    ("woken every night by the spasms this month", RED_FLAG, "frequency"),
    ("what stretches help a knee spasm", NONE, ""),
    ("which stretches are best for the knee", NONE, ""),
    ("does drinking water help with cramps", NONE, ""),
    ("why does my knee twitch after running", NONE, ""),
    ("is heat or ice better for a spasm", NONE, ""),
    ("does cold therapy numb the pain", NONE, ""),
]


@pytest.fixture(scope="module")
def encode(fake_retriever):
    return Encoder(fake_retriever)


@pytest.fixture(scope="module")
def bank():
    return [Message(f"m{i}", text, label, kind, writer=f"w{i % 2}") for i, (text, label, kind) in enumerate(BANK)]


@pytest.fixture(scope="module")
def model(bank, encode):
    params = {"char_ngrams": [2, 4], "word_ngrams": [1, 1], "min_df": 1, "negation_marks": True, "embedding_weight": 1.0, "C": 50.0,
              "max_iter": 2000}
    fitted = fit_model(bank, encode, params)
    return with_thresholds(fitted, {EMERGENCY: 0.5, DOSING: 0.5, RED_FLAG: 0.5},
                           fitted_for={"model": "hashing", "probe": [0.0] * 256})


@pytest.fixture(scope="module")
def triager(model, encode):
    return Triager(model, encode)


def test_a_long_message_is_read_in_parts():
    story = ("So my knee has been cramping all week and I work long shifts on my feet. This morning my foot went "
             "ice cold and grey. Anyway, what stretches are best?")
    parts = segments(story)
    assert parts[0] == story
    assert "This morning my foot went ice cold and grey." in parts
    assert len(segments("what stretches help")) == 1


def test_each_category(triager):
    assert triager.assess("my dad's foot is icy and grey and he cannot move it").category == EMERGENCY
    assert triager.assess("how many tablets can I swallow").category == DOSING
    verdict = triager.assess("the spasms wake me every night")
    assert verdict.category == RED_FLAG and verdict.red_flag and verdict.kind == "frequency"
    assert triager.assess("which stretches help the knee").category == NONE


def test_the_most_alarming_part_counts(triager):
    story = ("My knee has been cramping for a week and I have tried every stretch in the book, which has been "
             "boring. Now his foot is icy and grey and he cannot move his toes. Anyway, what stretches help?")
    verdict = triager.assess(story)
    assert verdict.category == EMERGENCY and verdict.kind == "limb_blood_supply"
    assert verdict.scores[EMERGENCY] >= 0.5


def test_the_rules_are_a_floor_under_the_classifier(triager):
    """Words the classifier never saw: the emergency and dose rules still decide."""
    verdict = triager.assess("I have crushing chest pain")
    assert verdict.category == EMERGENCY and verdict.kind == "heart" and "rules" in verdict.by
    assert triager.assess("is 800mg ok").category == DOSING


def test_red_flag_rules_are_not_a_floor(triager):
    """"Does ice numb it?" matches the red-flag rules; with a classifier they do not decide."""
    verdict = triager.assess("does cold therapy numb the pain")
    assert verdict == Triage(NONE, confidence=verdict.confidence, by=verdict.by)
    assert Triager().assess("does cold therapy numb the pain").red_flag  # rules alone: eager


def test_dose_question_with_a_red_flag_is_both(triager):
    verdict = triager.assess("the spasms wake me every single night now, how many tablets can I swallow")
    assert verdict.category == DOSING and verdict.dosing and verdict.red_flag


def test_without_a_classifier_the_rules_decide():
    triager = Triager()
    assert triager.assess("my chest hurts").category == EMERGENCY
    assert triager.assess("my foot went icy and grey").category == NONE  # why the classifier exists
    assert triager.assess("how many mg of ibuprofen").category == DOSING


def test_save_and_load(model, tmp_path, triager, encode):
    save_model(model, tmp_path)
    loaded = load_model([tmp_path / "absent", tmp_path], lambda f: f.get("model") == "hashing")
    assert loaded is not None and loaded.thresholds == model.thresholds
    text = "his foot is icy and grey and he cannot move it"
    assert Triager(loaded, encode).scores(text) == pytest.approx(triager.scores(text), abs=1e-5)


def test_a_classifier_for_another_model_is_refused(model, tmp_path, caplog):
    save_model(model, tmp_path)
    with caplog.at_level(logging.WARNING, logger="askknee"):
        assert load_model([tmp_path], lambda f: False) is None
    assert "fitted for another embedding model" in caplog.text and "askknee fit-triage" in caplog.text


def test_the_index_folder_is_read_before_the_package(model, tmp_path):
    first, second = tmp_path / "index", tmp_path / "package"
    save_model(with_thresholds(model, {EMERGENCY: 0.1, DOSING: 0.5, RED_FLAG: 0.5}), first)
    save_model(model, second)
    assert load_model([first, second], lambda f: True).thresholds[EMERGENCY] == 0.1
    assert load_model([tmp_path / "empty", second], lambda f: True).thresholds[EMERGENCY] == 0.5


def test_the_packaged_classifier_fits_the_default_model():
    """Committed beside the bank it was fitted on; fingerprinted on the default model's probe vector."""
    from askknee.settings import DEFAULT_MODEL
    from askknee.triage import PACKAGED

    loaded = load_model([PACKAGED], lambda f: f.get("model") == DEFAULT_MODEL and len(f.get("probe", ())) == 384)
    assert loaded is not None and set(loaded.thresholds) == {EMERGENCY, DOSING, RED_FLAG}
    assert loaded.meta["fitted_on"]["bank"] == "dev"


def test_a_damaged_classifier_is_refused(model, tmp_path, caplog):
    save_model(model, tmp_path)
    (tmp_path / "triage.npz").write_bytes(b"not an npz")
    with caplog.at_level(logging.WARNING, logger="askknee"):
        assert load_model([tmp_path], lambda f: True) is None
    assert "askknee fit-triage" in caplog.text


def test_thresholds_reach_their_recall_targets_as_served():
    """The rules' catches count: the classifier need not reach a message the floor already holds."""
    bank = [Message("a", "his foot is icy and grey", EMERGENCY), Message("b", "lips blue, gasping for air", EMERGENCY),
            Message("c", "her leg went grey and cold", EMERGENCY), Message("d", "what stretches help", NONE)]
    scores = [{EMERGENCY: 0.7}, {EMERGENCY: 0.1}, {EMERGENCY: 0.4}, {EMERGENCY: 0.2}]
    assert choose_thresholds(bank, scores, {EMERGENCY: 1.0}) == {EMERGENCY: 0.4}  # "gasping" is a rule
    assert choose_thresholds(bank, scores, {EMERGENCY: 0.6}) == {EMERGENCY: 0.7}  # one of three may be missed


def test_evaluation_counts_recall_false_alarms_and_confusion(bank):
    verdicts = [Triage(EMERGENCY) if m.label != NONE else Triage(NONE) for m in bank]
    verdicts[-1] = Triage(RED_FLAG, red_flag=True)  # one ordinary question over-flagged
    report = evaluate(bank, verdicts)
    assert report["recall"][EMERGENCY]["rate"] == 1.0
    assert report["recall"][DOSING]["rate"] == 1.0  # the emergency reply gives no dose either
    assert report["ordinary"]["any_safety_reply"]["hits"] == 1
    assert report["ordinary"]["flagged_emergency"]["hits"] == 0
    assert report["confusion"][NONE] == {NONE: 5, RED_FLAG: 1}
    assert [f["id"] for f in report["failed"]] == [bank[-1].id]


def test_the_bank_is_labelled_and_split_by_writer():
    dev, test = load_bank("dev"), load_bank("test")
    assert len(test) / (len(dev) + len(test)) >= 0.25
    assert not {m.writer for m in dev} & {m.writer for m in test}
    assert not {m.text.lower() for m in dev} & {m.text.lower() for m in test}
    for split, minimum in ((dev + test, {EMERGENCY: 300, RED_FLAG: 200, DOSING: 150, NONE: 600}),):
        counts = {lab: sum(m.label == lab for m in split) for lab in minimum}
        assert all(counts[lab] >= n for lab, n in minimum.items()), counts
    assert {m.kind for m in test if m.label == EMERGENCY} == {
        "clot", "limb_blood_supply", "heart", "stroke", "collapse", "infection", "injury", "compartment", "self_harm"}


def test_encoder_reuses_vectors(encode):
    a = encode(["what stretches help"])
    b = encode(["what stretches help"])
    assert np.array_equal(a, b) and a.shape == (1, encode.retriever.embedder.dimension)



def test_vectors_that_are_not_finite_are_refused_not_read_as_ordinary(model):
    vectors = np.full((1, len(model.meta["fitted_for"]["probe"])), np.nan, np.float32)
    with pytest.raises(ValueError, match="not finite"):
        model.probabilities(["my calf is hot and swollen"], vectors)


@pytest.mark.parametrize("text, marked", [
    ("No chest pain, no swelling. Calf is cramping", "no NEG_chest NEG_pain no NEG_swelling calf is cramping"),
    ("it's not hot but my foot went white", "it's not NEG_hot but my foot went white"),
    ("I can't breathe and it won't stop", "i can't breathe and it won't stop"),  # inability reports a sign
    ("never had a clot, doesn't hurt", "never NEG_had NEG_a NEG_clot doesn't NEG_hurt"),
])
def test_negation_marks_reach_to_the_next_stop(text, marked):
    from askknee.textmodel import mark_negation

    assert mark_negation(text) == marked


def test_a_classifier_with_unknown_negation_marks_is_refused(model, tmp_path):
    from dataclasses import replace

    save_model(replace(model, meta={**model.meta, "params": {**model.params, "negation_marks": 9}}), tmp_path)
    from askknee.triage import _read

    with pytest.raises(ValueError, match="negation marks"):
        _read(tmp_path)


def test_marked_word_ngrams_tell_a_denied_sign_from_a_reported_one():
    from askknee.textmodel import make_vectorizers

    _, words = make_vectorizers({"negation_marks": True, "min_df": 1})
    x = words.fit_transform(["no chest pain at all", "crushing chest pain"])
    assert "NEG_chest NEG_pain" in words.vocabulary_ and "chest pain" in words.vocabulary_
    assert (x[0].toarray() * x[1].toarray()).sum() == 0  # nothing shared between the two
