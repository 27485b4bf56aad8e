"""Fixtures for the index tests: a corpus copy with an HTML and a Markdown article added,
built (once per session, ~20 s) into a tmp folder, and cheap copies of the main artifact
for the stale/corrupt tests (those never rebuild).

Builds in the whole session: at most two extra (`extended_build`, and `extended_rebuild`
for the determinism test), besides the main artifact from tests/conftest.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from index.artifact import QUERY_ENCODER

HTML_ID = "900_html_article"
MD_ID = "901_markdown_article"

HTML_ARTICLE = """<!doctype html>
<html lang="en">
<head>
  <title>HEAD_TITLE_SENTINEL | Example Clinic</title>
  <script>var tracker = "SCRIPT_SENTINEL";</script>
  <style>.hero { color: red; } /* STYLE_SENTINEL */</style>
</head>
<body>
  <nav><ul><li><a href="/">NAV_SENTINEL Home</a></li><li><a href="/blog">Blog</a></li></ul></nav>
  <article>
    <h1>Glute Bridges for Sore Hips</h1>
    <p>Glute bridges strengthen the muscles that steady the pelvis on every stride.
       They take <em>two   minutes</em> a day and need no equipment.</p>
    <h2>How to do a glute bridge</h2>
    <p>Lie on your back with your knees bent and feet flat. Press through your heels and lift your hips until your body forms a straight line.</p>
    <ul>
      <li>Hold the top position for three seconds.</li>
      <li>Lower your hips slowly to the floor.</li>
    </ul>
    <h2>When to stop the exercise</h2>
    <p>Stop if a bridge causes sharp pain deep in the hip joint, and ask a physiotherapist to check it.</p>
  </article>
  <form><label>FORM_SENTINEL Subscribe</label><input name="email"></form>
  <footer><p>FOOTER_SENTINEL Copyright 2024</p></footer>
  <script>console.log("SCRIPT_SENTINEL_TWO")</script>
</body>
</html>
"""

MD_ARTICLE = """# Hip Mobility Drills for Runners

Mobility drills loosen stiff hips before a run. Do them after a short warm-up walk.

## Leg swings

Swing one leg forward and back twenty times while holding a wall. Keep your torso upright and the swing relaxed.

## Hip circles

- Stand tall on one leg.
- Draw big slow circles with the other knee, ten each way.

Hip circles open the front of the hip where runners get tight.

### Common mistakes

Rushing the drills makes them far less effective than slow controlled reps.
"""

MANIFEST_EXTRA = f"""
[[documents]]
doc_id = "{HTML_ID}"
title = "Glute Bridges for Sore Hips"
publisher = "Example Clinic"
author = ""
url = ""

[[documents]]
doc_id = "{MD_ID}"
title = "Hip Mobility Drills for Runners"
publisher = ""
author = ""
url = ""
"""


@dataclass(frozen=True)
class Built:
    corpus: Path
    index: Path
    manifest: dict


def copy_corpus(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def copy_artifact(source: Path, target: Path) -> Path:
    """A private copy tests may corrupt; the 87 MB ONNX file (never modified) is symlinked."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(QUERY_ENCODER))
    (target / QUERY_ENCODER).symlink_to(source / QUERY_ENCODER)
    return target


@pytest.fixture(scope="session")
def extended_corpus(settings, tmp_path_factory) -> Path:
    corpus = copy_corpus(settings.corpus_dir, tmp_path_factory.mktemp("extended") / "corpus")
    (corpus / f"{HTML_ID}.html").write_text(HTML_ARTICLE, encoding="utf-8")
    (corpus / f"{MD_ID}.md").write_text(MD_ARTICLE, encoding="utf-8")
    with (corpus / "manifest.toml").open("a", encoding="utf-8") as fh:
        fh.write(MANIFEST_EXTRA)
    return corpus


@pytest.fixture(scope="session")
def extended_build(extended_corpus, tmp_path_factory) -> Built:
    from index.build import build

    out = tmp_path_factory.mktemp("build-a") / "artifact"
    return Built(extended_corpus, out, build(extended_corpus, out))


@pytest.fixture(scope="session")
def extended_rebuild(extended_build, tmp_path_factory) -> Built:
    """The same inputs built a second time, into another folder (determinism)."""
    from index.build import build

    out = tmp_path_factory.mktemp("build-b") / "artifact"
    return Built(extended_build.corpus, out, build(extended_build.corpus, out))


@pytest.fixture
def artifact_copy(settings, tmp_path) -> Built:
    """Fresh, private copies of the main corpus and artifact (valid until a test changes them)."""
    from index.artifact import read_manifest

    corpus = copy_corpus(settings.corpus_dir, tmp_path / "corpus")
    index = copy_artifact(settings.index_dir, tmp_path / "artifact")
    return Built(corpus, index, read_manifest(index))


@pytest.fixture
def run_stride(tmp_path):
    """`run_stride(*args, index=, corpus=)`: the `stride` CLI in a subprocess pointed at that index and corpus."""

    def run(*args: str, index: Path, corpus: Path) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "STRIDE_INDEX_DIR": str(index), "STRIDE_CORPUS_DIR": str(corpus), "HF_HUB_OFFLINE": "1", "COLUMNS": "100"}
        # cwd is a tmp folder so a developer's .env cannot change the settings under test.
        return subprocess.run([sys.executable, "-m", "stride", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)

    return run


@pytest.fixture(scope="session")
def test_articles() -> dict[str, str]:
    """doc_id → source of the HTML and Markdown articles added to the extended corpus."""
    return {HTML_ID: HTML_ARTICLE, MD_ID: MD_ARTICLE}
