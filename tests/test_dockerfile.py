"""The Dockerfile, checked by parsing it (Docker cannot run on the CI machines).

Properties from the foundation spec: slim Python base, CPU-only torch, the project
installed, the index built at image build time, a non-root user, a HEALTHCHECK on
/healthz, and nothing that needs the network when the container runs.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, comments dropped and continuation lines joined."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        if full:
            keyword, _, args = full.partition(" ")
            out.append((keyword.upper(), args.strip()))
    assert not pending, "Dockerfile ends inside a continued line"
    return out


def command_words(args: str) -> list[str]:
    """Words of a CMD/ENTRYPOINT/HEALTHCHECK CMD in exec (JSON) or shell form."""
    args = args.strip()
    if args.startswith("["):
        return json.loads(args)
    return shlex.split(args)


@pytest.fixture(scope="module")
def steps() -> list[tuple[str, str]]:
    return instructions(DOCKERFILE.read_text(encoding="utf-8"))


def index_of(steps: list[tuple[str, str]], keyword: str, pattern: str = "") -> int:
    for i, (kw, args) in enumerate(steps):
        if kw == keyword and re.search(pattern, args):
            return i
    raise AssertionError(f"no {keyword} matching {pattern!r} in the Dockerfile")


def test_slim_python_311_base(steps):
    froms = [args for kw, args in steps if kw == "FROM"]
    assert len(froms) == 1, froms
    assert re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?(@sha256:[0-9a-f]{64})?", froms[0].split()[0]), froms[0]


def test_cpu_only_torch_installed_before_the_project(steps):
    torch_step = index_of(steps, "RUN", r"torch==2\.13\.0")
    args = steps[torch_step][1]
    assert "--index-url https://download.pytorch.org/whl/cpu" in args
    assert "--extra-index-url" not in args  # would let pip pick the CUDA wheel from PyPI
    project_step = index_of(steps, "RUN", r"pip install .*-e \.")
    assert torch_step < project_step, "torch must be installed from the CPU index before the project pulls it from PyPI"


def test_project_installed_with_constraints_when_present(steps):
    args = steps[index_of(steps, "RUN", r"pip install .*-e \.")][1]
    assert "-c constraints.txt" in args


def test_sources_and_corpus_copied_before_install(steps):
    copied = " ".join(args for kw, args in steps[: index_of(steps, "RUN", r"pip install .*-e \.")] if kw == "COPY")
    for needed in ("pyproject.toml", "stride.py", "index/", "service/", "eval/", "corpus/"):
        assert needed in copied, needed


def test_index_built_at_image_build_time_by_the_serving_user(steps):
    build = index_of(steps, "RUN", r"\bstride index build\b")
    assert build > index_of(steps, "RUN", r"pip install .*-e \.")
    assert build > index_of(steps, "USER"), "build the index as the user that will read it"


def test_runs_as_non_root(steps):
    users = [(i, args.split(":")[0]) for i, (kw, args) in enumerate(steps) if kw == "USER"]
    assert users, "no USER instruction"
    last_index, last_user = users[-1]
    assert last_user not in ("root", "0")
    assert last_index < index_of(steps, "CMD")


def test_offline_at_run_time(steps):
    env = " ".join(args for kw, args in steps if kw == "ENV")
    assert re.search(r"\bHF_HUB_OFFLINE=1\b", env)
    for kw in ("CMD", "ENTRYPOINT"):
        for args in (a for k, a in steps if k == kw):
            words = " ".join(command_words(args))
            assert not re.search(r"\b(pip|curl|wget|apt-get|uv)\b", words), f"{kw} would use the network: {words}"


def test_serves_on_8000_without_rebuilding(steps):
    assert "8000" in [a for kw, args in steps if kw == "EXPOSE" for a in args.split()]
    cmds = [args for kw, args in steps if kw == "CMD"]
    assert len(cmds) == 1
    words = command_words(cmds[0])
    assert words[:2] == ["stride", "serve"]
    assert "--no-build" in words
    assert words[words.index("--host") + 1] == "0.0.0.0"
    assert words[words.index("--port") + 1] == "8000"


def test_healthcheck_probes_healthz_with_python(steps):
    checks = [args for kw, args in steps if kw == "HEALTHCHECK"]
    assert len(checks) == 1
    probe = checks[0].partition("CMD")[2]
    assert probe, "HEALTHCHECK has no CMD"
    words = command_words(probe)
    assert words[0] in ("python", "python3")  # slim images have no curl
    assert "/healthz" in " ".join(words)
    assert "curl" not in probe and "wget" not in probe


def test_dockerignore_keeps_local_state_out():
    entries = {line.strip().rstrip("/") for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines() if line.strip() and not line.startswith("#")}
    for needed in (".venv", "index/artifact", "eval/reports", "test-artifacts", ".git"):
        assert needed in entries, needed
