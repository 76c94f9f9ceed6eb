"""The core CLI: build, search (plain and JSON), export-corpus, and one-line errors with exit 2."""

from __future__ import annotations

import json

import pytest

from askknee.cli import main


@pytest.fixture()
def cli_env(monkeypatch, fake_settings):
    monkeypatch.setenv("ASKKNEE_MODEL", "hashing")
    monkeypatch.setenv("ASKKNEE_INDEX", str(fake_settings.index_dir))
    monkeypatch.setenv("ASKKNEE_CORPUS", str(fake_settings.corpus_dir))


def test_search_json(cli_env, capsys):
    assert main(["search", "why is my knee twitching", "-k", "3", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["rank"] for r in rows] == [1, 2, 3]
    assert set(rows[0]) == {"rank", "id", "score", "parts", "section", "url", "text"}
    parts = rows[0]["parts"]  # the score's breakdown: fused plus each lift
    assert set(parts) == {"dense", "lexical", "fused", "memory", "prototype"}
    assert abs(parts["fused"] + parts["memory"] + parts["prototype"] - rows[0]["score"]) < 1e-5
    assert rows[0]["url"].startswith("https://docus.ai/symptoms-guide/knee-muscle-spasm#")


def test_search_plain(cli_env, capsys):
    assert main(["search", "physio", "-k", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(" 1. ") and "https://docus.ai/" in out


def test_build_reports_sizes(cli_env, tmp_path, capsys):
    assert main(["build", "--index", str(tmp_path / "ix"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["chunks"] > 30 and report["chars_max"] >= report["chars_median"]
    assert (tmp_path / "ix" / "manifest.json").exists()


@pytest.mark.parametrize("argv, message", [
    (["search", "   "], "empty"),
    (["search", "knee", "-k", "0"], "at least 1"),
    (["search", "knee", "-k", "x"], "whole number"),
    (["search", "--queries", "/nonexistent.jsonl", "--run", "/tmp/r.trec"], "cannot read"),
    (["search", "--queries", "q.jsonl"], "--run"),
    (["build", "--corpus", "/nonexistent", "--index", "/tmp/never"], "does not exist"),
    (["search"], "QUESTION"),
    (["frobnicate"], "invalid choice"),
])
def test_errors_one_line_exit_2(cli_env, capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("askknee: error:") and message in err
    assert err.count("\n") == 1


def test_bad_queries_file(cli_env, tmp_path, capsys):
    q = tmp_path / "q.jsonl"
    q.write_text('{"_id": "1", "text": "knee"}\nnot json\n')
    assert main(["search", "--queries", str(q), "--run", str(tmp_path / "r.trec")]) == 2
    assert "q.jsonl:2" in capsys.readouterr().err
