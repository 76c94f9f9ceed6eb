"""`askknee ask`: one question (plain or --json) and a JSONL file of questions and conversations."""

import json

import pytest

from askknee import messages as M
from askknee.cli import main


@pytest.fixture()
def base(fake_settings, monkeypatch):
    monkeypatch.setenv("ASKKNEE_ANSWER_THRESHOLD", "0.0")  # the fake embedder's scores are not calibrated
    return ["--corpus", str(fake_settings.corpus_dir), "--index", str(fake_settings.index_dir),
            "--model", fake_settings.model]


def test_ask_json(base, capsys):
    assert main(["ask", "how do I stop knee spasms?", "--json", *base]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"status", "answer", "sources", "notices", "suggestions", "disclaimer", "retrieved", "triage",
                        "scope"}
    assert {"dense", "lexical", "fused", "memory", "prototype"} == set(out["retrieved"][0]["parts"])
    assert out["scope"]["outcome"] == "answer" and "top" in out["scope"]["evidence"]
    assert out["status"] == "answered"
    assert out["triage"]["category"] == "none" and {"kind", "confidence", "by"} <= set(out["triage"])
    assert out["answer"].endswith(M.DISCLAIMER) and out["disclaimer"] == M.DISCLAIMER
    assert {"id", "section", "url", "score"} <= set(out["sources"][0])


def test_ask_plain(base, capsys):
    assert main(["ask", "I can't breathe", *base]) == 0
    out = capsys.readouterr().out
    assert M.EMERGENCY in out and out.rstrip().endswith(M.DISCLAIMER)


def test_ask_json_records_the_emergency_kind(base, capsys):
    assert main(["ask", "I can't breathe", "--json", *base]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "emergency" and out["triage"]["category"] == "emergency"
    assert out["triage"]["kind"] == "clot" and out["triage"]["by"] == "rules"


def test_ask_plain_puts_the_disclaimer_and_the_suggestions_on_lines_of_their_own(base, capsys):
    assert main(["ask", "how do I stop knee spasms?", *base]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert M.DISCLAIMER in lines and M.SUGGESTIONS_LEAD in lines
    assert lines.index(M.SUGGESTIONS_LEAD) == lines.index(M.DISCLAIMER) + 2  # after a blank line
    assert all(line.startswith("- ") for line in lines[lines.index(M.SUGGESTIONS_LEAD) + 1:])


def test_ask_file_with_conversations(base, tmp_path, capsys):
    qs = tmp_path / "q.jsonl"
    qs.write_text("\n".join(json.dumps(r) for r in [
        {"_id": "a", "text": "why is my knee twitching"},
        {"_id": "b", "turns": ["what causes knee spasms?", "how do I treat them?"]},
        {"_id": "c", "text": "how many mg of magnesium?"},
    ]) + "\n")
    out = tmp_path / "out.jsonl"
    assert main(["ask", "--questions", str(qs), "--out", str(out), *base]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["_id"] for r in rows] == ["a", "b", "c"]
    assert rows[2]["status"] == "dosing"
    assert all(r["answer"].endswith(M.DISCLAIMER) for r in rows)


@pytest.mark.parametrize("argv", [
    ["ask"],
    ["ask", "--questions", "missing.jsonl", "--out", "x.jsonl"],
    ["ask", "--questions", "q.jsonl"],
])
def test_ask_errors_exit_2(base, argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main([*argv, *base]) == 2
    assert "askknee: error:" in capsys.readouterr().err


def test_ask_file_rejects_bad_rows(base, tmp_path, capsys):
    qs = tmp_path / "q.jsonl"
    qs.write_text(json.dumps({"_id": "a", "turns": "not a list"}) + "\n")
    assert main(["ask", "--questions", str(qs), "--out", str(tmp_path / "o.jsonl"), *base]) == 2
