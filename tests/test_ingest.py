"""Ingestion of the real captured page: content kept, site chrome dropped."""

from __future__ import annotations

import pytest

from askknee.errors import CorpusError
from askknee.ingest import load_corpus, parse_article, read_corpus_file, slugify

from conftest import CORPUS, PAGE

URL = "https://docus.ai/symptoms-guide/knee-muscle-spasm"


@pytest.fixture(scope="module")
def article():
    return parse_article(PAGE.read_text(encoding="utf-8"), article_id="knee-muscle-spasm", source=str(PAGE))


def all_text(article) -> str:
    parts = [b.text for s in article.sections for b in s.blocks]
    parts += [b.lead for s in article.sections for b in s.blocks]
    parts += [f.question + " " + f.answer for f in article.faqs]
    return "\n".join(parts)


def test_title_url_and_intro(article):
    assert article.title == "Knee Muscle Spasm: Relief and Prevention Essentials"
    assert article.url == URL
    intro = article.sections[0]
    assert intro.heading_path == (article.title,)
    assert intro.blocks[0].text.startswith("Knee muscle spasms are involuntary contractions")


def test_sections_and_subsections_with_page_anchors(article):
    paths = [s.heading_path[1:] for s in article.sections]
    assert ("What Causes Knee Muscle Spasms?",) in paths
    assert ("Symptoms of Knee Muscle Spasms",) in paths
    assert ("Diagnostic Approaches", "When to See a Doctor") in paths
    assert ("Treatment Options", "Home Remedies") in paths
    assert ("Treatment Options", "Medical Interventions") in paths
    assert ("Key Takeaways",) in paths
    anchors = {s.heading_path[1]: s.anchor for s in article.sections if len(s.heading_path) > 1}
    assert anchors["What Causes Knee Muscle Spasms?"] == "what-causes-knee-muscle-spasms"
    assert anchors["Diagnostic Approaches"] == "diagnostic-approaches"
    assert anchors["Key Takeaways"] == "key-takeaways"


def test_five_faq_pairs_with_artefact_repaired(article):
    assert len(article.faqs) == 5
    questions = [f.question for f in article.faqs]
    assert questions[0] == "What causes a knee muscle spasm?"
    assert all(not q.startswith("#") and "\\" not in q for q in questions)
    assert article.faqs[1].answer.startswith("Relief can often be found through cold therapy")


def test_site_chrome_is_gone(article):
    text = all_text(article)
    for chrome in ["AI Doctor", "Symptom Checker", "DeBerardino", "Try Docus", "Reviewed by", "DrAnnaNersisyan",
                   "iframe", "doubleclick", "Wilmington", "min read", "Make Informed Health Decisions",
                   "Crunchy Knees Explained", "http", "](", "**", "![", "Please Note"]:
        assert chrome not in text, chrome


def test_links_reduced_to_their_words(article):
    text = all_text(article)
    assert "Imbalances in minerals such as calcium, magnesium, and potassium" in text
    assert "Aim for 6-8 glasses of water daily" in text


def test_related_articles_kept_as_links_not_passages(article):
    urls = {r.url for r in article.related}
    assert "https://docus.ai/symptoms-guide/pinched-nerve-in-knee" in urls
    assert "https://docus.ai/symptoms-guide/how-to-heal-torn-meniscus-naturally" in urls
    assert len(article.related) == 6
    titles = {r.title for r in article.related}
    assert "Dealing with a Pinched Nerve in the Knee: Causes and Care" in titles


def test_list_lead_in_travels_with_its_bullets(article):
    doctor = next(s for s in article.sections if s.heading_path[-1] == "When to See a Doctor")
    bullets = [b for b in doctor.blocks if b.kind == "bullet"]
    assert len(bullets) == 4
    assert all(b.lead.startswith("You should consider scheduling an appointment") for b in bullets)
    assert not any(b.kind == "paragraph" and b.text == bullets[0].lead for b in doctor.blocks)


def test_slugify_matches_page_anchors():
    assert slugify("What Causes Knee Muscle Spasms?") == "what-causes-knee-muscle-spasms"
    assert slugify("Initial Self-Assessment") == "initial-self-assessment"


def test_url_inferred_from_contents_links_without_front_matter():
    text = PAGE.read_text(encoding="utf-8").split("---\n", 2)[2]
    assert parse_article(text, article_id="x").url == URL


def test_missing_url_and_title_are_clear_errors():
    with pytest.raises(CorpusError, match="url"):
        parse_article("# Title\n\nSome text about knees.\n", article_id="a", source="a.md")
    with pytest.raises(CorpusError, match="a.md.*Title"):
        parse_article("no heading here\n", article_id="a", source="a.md")


def test_bad_encoding_names_the_file(tmp_path):
    bad = tmp_path / "latin.md"
    bad.write_bytes("---\nurl: https://x.org/a\n---\n# Caf\xe9\n\ntext\n".encode("latin-1"))
    with pytest.raises(CorpusError, match="latin.md.*UTF-8"):
        read_corpus_file(bad)


def test_empty_or_missing_corpus_folder(tmp_path):
    with pytest.raises(CorpusError, match="no .md"):
        load_corpus(tmp_path)
    with pytest.raises(CorpusError, match="does not exist"):
        load_corpus(tmp_path / "nope")


def test_default_corpus_loads():
    articles = load_corpus(CORPUS)
    assert [a.id for a in articles] == ["knee-muscle-spasm"]
