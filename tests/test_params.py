"""Tuned numbers live in params.json beside the index; settings come from the environment, once."""

from __future__ import annotations

import json
import logging
import shutil

import pytest

from askknee.errors import IndexFileError
from askknee.params import PARAMS_FILE, Params, load_params, save_params
from askknee.retrieval import Retriever
from askknee.settings import Settings
from askknee.tuning import adapter as fitting


def test_params_round_trip_and_defaults(tmp_path):
    assert load_params(tmp_path) == Params()  # no file: the defaults
    changed = Params().with_(dense_weight=0.5, passage_ratio=0.9)
    save_params(changed, tmp_path)
    assert load_params(tmp_path) == changed


@pytest.mark.parametrize("text", ["{not json", '{"dense_wieght": 0.5}', '{"dense_weight": "high"}'])
def test_a_bad_params_file_is_our_error_naming_the_fix(tmp_path, text):
    (tmp_path / PARAMS_FILE).write_text(text)
    with pytest.raises(IndexFileError, match="fix the file or delete it"):
        load_params(tmp_path)


def test_the_index_params_file_is_what_the_retriever_scores_with(fake_settings, tmp_path):
    index_dir = tmp_path / "index"
    shutil.copytree(fake_settings.index_dir, index_dir)
    save_params(Params().with_(dense_weight=0.2), index_dir)
    r = Retriever.from_settings(fake_settings.with_(index_dir=index_dir))
    assert r.params.dense_weight == 0.2
    hit = r.search("why does my knee twitch", k=1)[0]
    assert hit.fused == pytest.approx(0.2 * hit.dense + 0.8 * hit.lexical, abs=1e-6)
    assert hit.score == pytest.approx(sum(hit.parts()[k] for k in ("fused", "memory", "prototype")), abs=1e-6)


def test_an_environment_override_wins_over_the_file(fake_settings, monkeypatch):
    monkeypatch.setenv("ASKKNEE_DENSE_WEIGHT", "0.3")
    settings = Settings().with_(corpus_dir=fake_settings.corpus_dir, index_dir=fake_settings.index_dir,
                                model=fake_settings.model)
    assert Retriever.from_settings(settings).params.dense_weight == 0.3


@pytest.mark.slow
def test_an_adapter_fitted_under_other_fusion_numbers_is_refused_with_one_warning(fake_settings, tmp_path,
                                                                                  monkeypatch, caplog):
    index_dir = tmp_path / "index"
    shutil.copytree(fake_settings.index_dir, index_dir)
    base = Retriever.from_settings(fake_settings.with_(index_dir=index_dir), use_adapter=False)
    chunk = base.chunks[0]
    fitting.save(fitting.fit(base, [chunk.text[:80]], [{chunk.id}], steps=5), index_dir)
    assert json.loads((index_dir / "adapter.json").read_text())["fitted_with"] == Params().fusion()
    settings = fake_settings.with_(index_dir=index_dir)
    assert Retriever.from_settings(settings).adapter is not None
    with caplog.at_level(logging.WARNING, logger="askknee"):
        assert Retriever.from_settings(settings.with_(dense_weight=0.2)).adapter is None
    warnings = [r.getMessage() for r in caplog.records if "query adapter" in r.getMessage()]
    assert len(warnings) == 1 and "askknee fit-adapter" in warnings[0] and "ASKKNEE_" in warnings[0]


def test_settings_read_every_variable_once(monkeypatch):
    monkeypatch.setenv("ASKKNEE_ALLOWED_ORIGINS", "https://a.example https://b.example")
    monkeypatch.setenv("ASKKNEE_EXPOSE_INTERNALS", "true")
    monkeypatch.setenv("ASKKNEE_ANN_THRESHOLD", "10")
    monkeypatch.setenv("ASKKNEE_BACKEND", " Torch ")
    s = Settings()
    assert s.allowed_origins == ("https://a.example", "https://b.example")
    assert s.expose_internals and s.ann_threshold == 10 and s.backend == "torch"
    monkeypatch.setenv("ASKKNEE_ANN_THRESHOLD", "20")
    assert s.ann_threshold == 10  # read when made, not on each use
    with pytest.raises(Exception):
        s.port = 1  # frozen


def test_every_setting_is_in_the_configuration_table():
    from pathlib import Path

    table = (Path(__file__).resolve().parents[1] / "docs" / "configuration.md").read_text()
    for name, spec in Settings.model_fields.items():
        aliases = spec.validation_alias.choices
        assert any(f"`{a}`" in table for a in aliases), f"{name} ({aliases}) is missing from docs/configuration.md"


def test_only_our_variables_are_read_and_empty_ones_are_unset(monkeypatch):
    monkeypatch.setenv("HOST", "0.0.0.0")
    monkeypatch.setenv("PORT", "1")
    monkeypatch.setenv("EXPOSE_INTERNALS", "1")
    monkeypatch.setenv("ASKKNEE_PORT", "tcp://10.0.0.11:7860")  # what a Kubernetes service named askknee injects
    monkeypatch.setenv("ASKKNEE_EXPOSE_INTERNALS", "")
    monkeypatch.delenv("GRADIO_SERVER_PORT", raising=False)
    monkeypatch.delenv("GRADIO_SERVER_NAME", raising=False)
    s = Settings.from_env()
    assert (s.host, s.port, s.expose_internals) == ("127.0.0.1", 7860, False)


def test_a_bad_setting_is_one_line_and_exit_2(monkeypatch, capsys):
    from askknee.cli import main

    monkeypatch.setenv("ASKKNEE_ANN_THRESHOLD", "many")
    assert main(["search", "why does my knee twitch"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "ASKKNEE_ANN_THRESHOLD" in err
