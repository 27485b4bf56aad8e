"""Corpus loading: the manifest, the three file formats, and what offsets point into.

The HTML and Markdown articles are built into a real artifact (the session's
`extended_build`, the real model and FAISS) to check that ingestion works end to end.
"""

from __future__ import annotations

import json
import re

import pytest

from index import artifact as index_artifact
from index.build import build
from index.chunking import collapse
from index.documents import CorpusError, html_to_text, load_corpus

HTML_SENTINELS = ("HEAD_TITLE_SENTINEL", "SCRIPT_SENTINEL", "STYLE_SENTINEL", "NAV_SENTINEL", "FORM_SENTINEL", "FOOTER_SENTINEL", "tracker", "console.log")



# -- the real corpus ---------------------------------------------------------------------


def test_real_corpus_matches_its_manifest(settings):
    docs = load_corpus(settings.corpus_dir)
    assert [d.doc_id for d in docs] == sorted(d.doc_id for d in docs)
    assert len(docs) == 5
    by_id = {d.doc_id: d for d in docs}
    assert by_id["000_8c60f68409ff19b6"].publisher == "LIVESTRONG.COM"
    assert by_id["003_8bf0d0f96f61588d"].publisher == "Road Runner Sports"
    assert by_id["004_a3cab82aa58c6236"].publisher == "The Jackson Clinics"
    assert by_id["001_ec155ae1e04ba13d"].author == ""  # unknown stays empty
    for doc in docs:
        assert doc.path.stem == doc.doc_id
        assert doc.title
        # Plain-text articles: offsets point into the file itself, unchanged.
        assert doc.text == doc.path.read_text(encoding="utf-8")


def test_artifact_stores_the_text_offsets_point_into(artifact, settings):
    for doc in load_corpus(settings.corpus_dir):
        stored = artifact.documents[doc.doc_id]
        assert stored.text == doc.text
        assert stored.file == doc.path.name
        assert stored.title == doc.title


# -- manifest errors ---------------------------------------------------------------------


@pytest.fixture
def corpus_copy(settings, tmp_path):
    import shutil

    return shutil.copytree(settings.corpus_dir, tmp_path / "corpus")


def test_unlisted_corpus_file_is_an_error(corpus_copy):
    (corpus_copy / "005_new_article.txt").write_text("A new article\n\nSome text.\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="005_new_article") as info:
        load_corpus(corpus_copy)
    assert "manifest" in str(info.value)
    assert "\n" not in str(info.value)


def test_unlisted_corpus_file_stops_the_build_before_the_model_loads(corpus_copy, tmp_path):
    (corpus_copy / "005_new_article.md").write_text("# A new article\n\nSome text.\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="005_new_article"):
        build(corpus_copy, tmp_path / "never-built")
    assert not (tmp_path / "never-built").exists()


def test_manifest_entry_without_a_file_is_an_error(corpus_copy):
    (corpus_copy / "003_8bf0d0f96f61588d.txt").unlink()
    with pytest.raises(CorpusError, match="003_8bf0d0f96f61588d"):
        load_corpus(corpus_copy)


def test_two_files_with_one_doc_id_is_an_error(corpus_copy):
    (corpus_copy / "000_8c60f68409ff19b6.md").write_text("# Duplicate\n\nText.\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="000_8c60f68409ff19b6"):
        load_corpus(corpus_copy)


def test_missing_or_invalid_manifest_is_an_error(corpus_copy):
    manifest = corpus_copy / "manifest.toml"
    manifest.write_text("[[documents]\nbroken", encoding="utf-8")
    with pytest.raises(CorpusError, match="not valid TOML"):
        load_corpus(corpus_copy)
    manifest.unlink()
    with pytest.raises(CorpusError, match="manifest.toml"):
        load_corpus(corpus_copy)


def test_manifest_entry_without_title_is_an_error(corpus_copy):
    manifest = corpus_copy / "manifest.toml"
    manifest.write_text(re.sub(r'title = "Pain in the hips while running"', 'title = ""', manifest.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(CorpusError, match="001_ec155ae1e04ba13d has no title"):
        load_corpus(corpus_copy)


# -- HTML --------------------------------------------------------------------------------


def test_html_is_reduced_to_visible_blocks(test_articles):
    text = html_to_text(test_articles["900_html_article"])
    for sentinel in HTML_SENTINELS:
        assert sentinel not in text
    assert "<" not in text and ">" not in text
    lines = [line for line in text.splitlines() if line]
    assert lines[0] == "Glute Bridges for Sore Hips"
    assert "How to do a glute bridge" in lines
    assert "When to stop the exercise" in lines
    assert "- Hold the top position for three seconds." in lines
    # Inline markup and source line breaks inside a block collapse to single spaces.
    assert "They take two minutes a day and need no equipment." in text


def test_html_title_used_when_there_is_no_h1():
    text = html_to_text("<html><head><title>Only a title</title></head><body><p>Body text here.</p></body></html>")
    assert text.splitlines()[0] == "Only a title"
    assert "Body text here." in text


def test_html_article_built_into_sections(extended_build):
    _check_added_article(
        extended_build,
        "900_html_article",
        sections={
            "Glute Bridges for Sore Hips": "Glute bridges strengthen the muscles",
            "How to do a glute bridge": "Press through your heels",
            "When to stop the exercise": "Stop if a bridge causes sharp pain",
        },
        absent=HTML_SENTINELS,
    )
    rows = json.loads((extended_build.index / index_artifact.DOCUMENTS).read_text(encoding="utf-8"))
    doc = next(r for r in rows if r["doc_id"] == "900_html_article")
    assert doc["file"] == "900_html_article.html"
    assert doc["publisher"] == "Example Clinic"
    assert doc["text"] == html_to_text((extended_build.corpus / doc["file"]).read_text(encoding="utf-8"))


def test_markdown_article_built_into_sections(extended_build, test_articles):
    _check_added_article(
        extended_build,
        "901_markdown_article",
        sections={
            "Hip Mobility Drills for Runners": "Mobility drills loosen stiff hips",
            "Leg swings": "Swing one leg forward",
            "Hip circles": "Draw big slow circles",
            "Common mistakes": "Rushing the drills",
        },
        absent=("#",),
    )
    rows = json.loads((extended_build.index / index_artifact.DOCUMENTS).read_text(encoding="utf-8"))
    doc = next(r for r in rows if r["doc_id"] == "901_markdown_article")
    assert doc["text"] == test_articles["901_markdown_article"]  # Markdown offsets point into the file as is


def test_added_articles_are_searchable(extended_build, settings):
    from service.config import Settings
    from service.engine import Engine

    engine = Engine.load(Settings(index_dir=extended_build.index, corpus_dir=extended_build.corpus, safety_rules=settings.safety_rules))
    for query, doc_id in (("how do I do a glute bridge", "900_html_article"), ("leg swings and hip circles before a run", "901_markdown_article")):
        top = [engine.artifact.chunks[hit.index].doc_id for hit in engine.search(query, k=3)]
        assert doc_id in top, (query, top)


def _check_added_article(built, doc_id: str, *, sections: dict[str, str], absent: tuple[str, ...]) -> None:
    documents = {r["doc_id"]: r for r in json.loads((built.index / index_artifact.DOCUMENTS).read_text(encoding="utf-8"))}
    text = documents[doc_id]["text"]
    chunks = [json.loads(line) for line in (built.index / index_artifact.CHUNKS).read_text(encoding="utf-8").splitlines()]
    sentences = [json.loads(line) for line in (built.index / index_artifact.SENTENCES).read_text(encoding="utf-8").splitlines()]
    mine = [c for c in chunks if c["doc_id"] == doc_id]
    assert mine
    assert {c["section"] for c in mine} == set(sections)
    for section, phrase in sections.items():
        assert any(phrase in c["text"] for c in mine if c["section"] == section), (section, phrase)
    for row in mine + [s for s in sentences if s["doc_id"] == doc_id]:
        assert row["text"] == text[row["start"] : row["end"]]  # offsets into the extracted text
        for junk in absent:
            assert junk not in row["text"]
    for heading in sections:
        assert not any(s["text"] == heading for s in sentences if s["doc_id"] == doc_id), f"heading {heading!r} kept as a sentence"
