"""The answer pipeline: safety → follow-up resolution → hybrid retrieval → composition.

`Engine` is the service's public, in-process interface; the HTTP API, the CLI and the
evaluation harness all call `Engine.answer`. It is loaded once (model, index, rules) and
holds no per-request state, so concurrent requests share it safely.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from typing import Literal

import numpy as np
from threadpoolctl import threadpool_limits

from index import artifact as index_artifact
from index import lexical
from index.artifact import IndexArtifact, IndexUnavailable
from index.embedding import ModelMissingError, model_dir
from service import followups
from service.compose import Composer, ComposeParams, Composition
from service.config import Settings
from service.encoder import QueryEncoder
from service.retrieval import Mode, Query, RetrievalParams, Retriever, ScoredChunk
from service.safety import FAIL_CLOSED, SafetyLayer, SafetyResult, SafetyRulesError
from service.scope import ScopeGate, ScopeRulesError
from service.scope_model import ScopeModel, ScopeModelError
from service.vocabulary import Vocabulary, focus

log = logging.getLogger("stride.engine")

DISCLAIMER = (
    "Stride quotes general self-care articles. It is not a diagnosis and not a substitute for a "
    "doctor or physiotherapist; if pain is severe or you are worried, get checked."
)
ABSTAIN_MESSAGE = (
    "Sorry, the articles Stride answers from don't cover that, so I won't guess. I can help with "
    "running-related hip pain: common causes, rest and ice, stretches and strengthening exercises, "
    "foam rolling, running form and shoes, and when to see a professional."
)
LIST_LEAD_IN = "The articles also mention:"


class EngineUnavailable(Exception):
    """Stride cannot serve with these settings; str() is one line saying why and what to do."""


@contextmanager
def _one_line_errors(settings: Settings) -> Iterator[None]:
    try:
        yield
    except SafetyRulesError as exc:
        raise EngineUnavailable(f"safety rules file {settings.safety_rules} is invalid: {exc}") from exc
    except ScopeRulesError as exc:
        raise EngineUnavailable(f"scope rules file {settings.scope_rules} is invalid: {exc}") from exc
    except ScopeModelError as exc:
        raise EngineUnavailable(f"scope model file is invalid: {exc}") from exc
    except (IndexUnavailable, ModelMissingError) as exc:
        raise EngineUnavailable(str(exc)) from exc


@dataclass(frozen=True)
class AbstainParams:
    """Calibrated on the eval set's dev split (see eval/EXPERIMENTS.md)."""

    # Best chunk's retrieval score, on each mode's own scale (hybrid: weighted sum of cosine
    # and squashed BM25; dense: cosine; bm25: squashed BM25), so the baselines abstain fairly.
    min_score: tuple[tuple[str, float], ...] = (("hybrid", 0.26), ("dense", 0.33), ("bm25", 0.15))
    min_relevance: float = 0.40  # best quotable sentence's relevance
    # A weak chunk score is forgiven when a sentence matches well: MiniLM scores "how often
    # should I do clamshells" at 0.16 cosine against the clamshell instructions.
    rescue_relevance: float = 0.50


@dataclass(frozen=True)
class Citation:
    id: int
    doc_id: str
    title: str
    publisher: str
    section: str
    quote: str
    start: int
    end: int
    url: str


_CITATION_FIELDS = tuple(f.name for f in fields(Citation))


@dataclass(frozen=True)
class ChatResult:
    answer: str
    citations: list[Citation]
    safety: SafetyResult
    abstained: bool
    disclaimer: str = DISCLAIMER
    debug: dict = field(default_factory=dict, compare=False)

    @cached_property
    def id(self) -> str:
        """Stable id of this answer (feedback refers to it); a hash, not a stored record."""
        spans = "|".join(f"{c.doc_id}:{c.start}-{c.end}" for c in self.citations)
        return hashlib.sha256(f"{self.answer}\x00{spans}".encode()).hexdigest()[:24]

    @cached_property
    def _payload(self) -> dict:
        return {
            "id": self.id,
            "answer": self.answer,
            # Field by field rather than dataclasses.asdict, which deep-copies recursively
            # (~0.1 ms a request); the fields are str and int, so the dict is the same.
            "citations": [{name: getattr(c, name) for name in _CITATION_FIELDS} for c in self.citations],
            "safety": {"level": self.safety.level, "rules": list(self.safety.rules), "message": self.safety.message},
            "abstained": self.abstained,
            "disclaimer": self.disclaimer,
        }

    def payload(self) -> dict:
        """The API's JSON body (built once; callers get a shallow copy)."""
        return dict(self._payload)


@dataclass(frozen=True)
class Passage:
    doc_id: str
    start: int
    end: int
    score: float


@dataclass(frozen=True)
class Message:
    role: Literal["user", "assistant"]
    content: str


def encodable(text: str) -> str:
    """The text with lone surrogates replaced ("?"), so the Rust tokenizer can take it.

    JSON bodies cannot carry them (the API rejects those with 422), but a command-line
    argument in a non-UTF-8 encoding arrives as surrogate escapes (`stride ask $'\\xff'`).
    """
    return text if text.isascii() else text.encode("utf-8", "replace").decode("utf-8")


def user_turns(messages: list[Message]) -> list[str]:
    return [encodable(m.content) for m in messages if m.role == "user"]


def _encoder_texts(resolved: followups.ResolvedQuery) -> list[str]:
    """What one forward pass encodes: the question, or for a follow-up a batch of two, the
    follow-up read in the words of the earlier turns ("I think I have a labral tear. how do
    I treat it?") and the follow-up alone, so what it newly asks ("what about foot
    strike?") is not drowned by the topic. `Engine._query` sums the two with equal weight
    (EXPERIMENTS.md §3); BM25 carries the earlier words at a lower weight."""
    if resolved.context is None:
        return [resolved.text]
    return [f"{resolved.context} {resolved.text}", resolved.text]


class Engine:
    def __init__(
        self,
        artifact: IndexArtifact,
        encoder: QueryEncoder,
        safety: SafetyLayer,
        scope: ScopeGate | None = None,
        retrieval: RetrievalParams | None = None,
        composition: ComposeParams | None = None,
        abstain: AbstainParams | None = None,
        scope_model: ScopeModel | None = None,
    ) -> None:
        self.artifact = artifact
        self.encoder = encoder
        self.safety = safety
        self.scope = scope or ScopeGate.load()
        # The articles' own words, and what the manifest says of them: "the Rinzel article",
        # "what does Road Runner Sports suggest" name an article, not an uncovered subject.
        about = [" ".join((d.title, d.author, d.publisher)) for d in artifact.documents.values()]
        self.vocabulary = Vocabulary([s.text for s in artifact.sentences] + [c.section for c in artifact.chunks] + about, self.scope.also_covered, self.scope.lay_terms)
        self.scope = replace(self.scope, topic_words=self.vocabulary.terms)
        self.retriever = Retriever(artifact, retrieval)
        self.composer = Composer(artifact, composition)
        self.abstain = abstain or AbstainParams()
        self.scope_model = scope_model
        # The encoder releases the GIL while it runs, so a request's rules are checked on one
        # of these threads meanwhile (two: one per core on the 2-core target).
        self._checking = ThreadPoolExecutor(max_workers=2, thread_name_prefix="stride-rules")

    @classmethod
    def load(cls, settings: Settings) -> Engine:
        """Load a checked artifact and the rules; raises EngineUnavailable (one line) otherwise."""
        with _one_line_errors(settings):
            safety = SafetyLayer.load(settings.safety_rules)
            scope = ScopeGate.load(settings.scope_rules)
            artifact = index_artifact.load(settings.index_dir, settings.corpus_dir)
            encoder = QueryEncoder(artifact.query_encoder_path, artifact.tokenizer_path, threads=settings.encoder_threads)
            scope_model = ScopeModel.for_index(settings.scope_model, artifact.manifest)
        # numpy's OpenBLAS would run the composer's larger matrix products on every core and
        # leave its threads spinning afterwards, taking the cores the encoder and the rules
        # thread need: +0.5-0.9 ms a request (bench/RESULTS.md). A request's products are small.
        threadpool_limits(limits=1, user_api="blas")
        return cls(artifact, encoder, safety, scope, scope_model=scope_model)

    @staticmethod
    def check_rules(settings: Settings) -> None:
        """What `load` would refuse besides the index (which `stride serve` checks itself,
        rebuilding it if asked), without loading the model or the index into memory: the
        server's parent process would hold ~200 MB for nothing."""
        with _one_line_errors(settings):
            model_dir()
            SafetyLayer.load(settings.safety_rules)
            ScopeGate.load(settings.scope_rules)
            if settings.scope_model.exists():
                ScopeModel.load(settings.scope_model)

    @property
    def documents(self) -> dict[str, index_artifact.DocumentInfo]:
        return self.artifact.documents

    # -- retrieval --------------------------------------------------------------------

    def query(self, turns: list[str]) -> Query:
        """The retrieval query for the last turn: one encoder pass, context blended in for follow-ups."""
        corrected = self._corrected(followups.resolve(turns, self.scope.on_topic))
        return self._query(corrected, self.encoder.encode(_encoder_texts(corrected)))

    def _corrected(self, resolved: followups.ResolvedQuery) -> followups.ResolvedQuery:
        return followups.ResolvedQuery(self.vocabulary.corrected(resolved.text), resolved.context and self.vocabulary.corrected(resolved.context))

    def _query(self, resolved: followups.ResolvedQuery, vectors: np.ndarray) -> Query:
        """The query from the (corrected) resolved text and its encoding (see `_encoder_texts`)."""
        tokens = lexical.tokens([" ".join([resolved.text, *self.vocabulary.compounds(resolved.text), *self.vocabulary.lay_expansions(resolved.text)])])[0]
        if resolved.context is None:
            return Query(resolved.text, vectors[0], tokens, [])
        vector = vectors[0] + vectors[1]
        vector /= max(float(np.linalg.norm(vector)), 1e-12)
        return Query(resolved.text, vector, tokens, lexical.tokens([resolved.context])[0])

    def search(self, text: str, k: int = 5, mode: Mode = "hybrid") -> list[ScoredChunk]:
        return self.retriever.search(self.query([text]), k=k, mode=mode)

    def retrieve(self, messages: list[Message], k: int = 10, mode: Mode = "hybrid") -> list[Passage]:
        """Ranked chunks for the conversation's last turn (what evaluation scores retrieval on)."""
        query = self.query(user_turns(messages))
        chunks = self.artifact.chunks
        return [Passage(chunks[h.index].doc_id, chunks[h.index].start, chunks[h.index].end, h.score) for h in self.retriever.search(query, k=k, mode=mode)]

    # -- answering --------------------------------------------------------------------

    def check_safety(self, turns: list[str]) -> SafetyResult:
        try:
            return self.safety.check(turns)
        except Exception:  # fail closed: a broken check must never let an unchecked answer through
            log.exception("safety layer failed; answering with the fail-closed message")
            return FAIL_CLOSED

    def answer(self, messages: list[Message], mode: Mode = "hybrid") -> ChatResult:
        turns = user_turns(messages)
        resolved = followups.resolve(turns, self.scope.on_topic)
        corrected = self._corrected(resolved)
        (safety, stop), vectors = self._check_while_encoding(turns, resolved, _encoder_texts(corrected))
        # The rules decided: a warning sign's message never depends on the encoder, and only a
        # refusal may be overruled, by the scope model reading the encoding.
        if stop is not None and (not stop.abstained or self.scope_model is None or isinstance(vectors, Exception)):
            return stop
        if isinstance(vectors, Exception):
            raise vectors
        query = self._query(corrected, vectors)
        if stop is not None and not self.scope_model.overrides(query.vector):
            return stop
        overruled = {"overruled": stop.debug} if stop is not None else {}
        hits = self.retriever.search(query, k=self.composer.params.chunks, mode=mode)
        composition = self.composer.compose(query, hits)
        top_score = hits[0].score if hits else 0.0
        debug = {"score": round(top_score, 4), "relevance": round(composition.relevance, 4), "chunks": [h.index for h in hits], **overruled}
        if self.should_abstain(composition, top_score, mode):
            return ChatResult(ABSTAIN_MESSAGE, [], safety, abstained=True, debug=debug)
        text, citations = self.render(composition)
        return ChatResult(text, citations, safety, abstained=False, debug=debug)

    def _check_while_encoding(self, turns: list[str], resolved: followups.ResolvedQuery, texts: list[str]) -> tuple[tuple[SafetyResult, ChatResult | None], np.ndarray | Exception]:
        """`_check`'s result and the encoding of `texts` (or the encoder's exception), with
        the rules checked on another thread during the forward pass.

        The forward pass releases the GIL and the rules' regexes hold it, so the two overlap
        (~0.5 ms a request, bench/RESULTS.md). The rules are handed over only after
        tokenizing: the tokenizer releases the GIL too, and the rules thread would take it
        and hold this one back until it was done.
        """
        try:
            inputs = self.encoder.tokenize(texts)
        except Exception as exc:
            return self._check(turns, resolved), exc
        pending = self._checking.submit(self._check, turns, resolved)
        try:
            vectors: np.ndarray | Exception = self.encoder.run(inputs)
        except Exception as exc:
            vectors = exc
        return pending.result(), vectors

    def _check(self, turns: list[str], resolved: followups.ResolvedQuery) -> tuple[SafetyResult, ChatResult | None]:
        """The rules, before any retrieval: the safety result, and the whole answer when the
        rules decide it (an escalation, or a question the articles do not cover)."""
        safety = self.check_safety(turns)
        if safety.level in ("emergency", "urgent"):
            # No self-care text at all: nothing that could delay care.
            return safety, ChatResult(safety.message or FAIL_CLOSED.message or "", [], safety, abstained=False)
        # Judge what is asked, not the story around it: a long message's last questions.
        # The subject may have been set in an earlier turn ("…my hip" then "when can I run again?").
        question = focus(resolved.text)
        out_of_scope = self.scope.out_of_scope(f"{resolved.context or ''} {question}", conversation=" ".join(turns), question=question, as_written=focus(turns[-1]))
        if out_of_scope:
            return safety, ChatResult(ABSTAIN_MESSAGE, [], safety, abstained=True, debug={"scope": out_of_scope})
        missing = self.vocabulary.uncovered(resolved.text)
        if missing:
            return safety, ChatResult(ABSTAIN_MESSAGE, [], safety, abstained=True, debug={"uncovered": missing})
        return safety, None

    def should_abstain(self, composition: Composition, top_score: float, mode: Mode = "hybrid") -> bool:
        p = self.abstain
        if composition.lead is None or composition.relevance < p.min_relevance:
            return True
        return top_score < dict(p.min_score)[mode] and composition.relevance < p.rescue_relevance

    def render(self, composition: Composition) -> tuple[str, list[Citation]]:
        citations = [self._citation(n, quote) for n, quote in enumerate(composition.quotes, start=1)]
        marked = [f"{c.quote} [{c.id}]" for c in citations]
        if composition.as_list:
            text = "\n".join([marked[0], "", LIST_LEAD_IN, *(f"- {line}" for line in marked[1:])])
        else:
            text = " ".join(marked)
        return text, citations

    def _citation(self, number: int, quote) -> Citation:
        doc = self.artifact.documents[quote.doc_id]
        return Citation(
            id=number,
            doc_id=doc.doc_id,
            title=doc.title,
            publisher=doc.publisher,
            section=quote.section,
            quote=quote.text,
            start=quote.start,
            end=quote.end,
            url=f"/sources/{doc.doc_id}#{quote.start}-{quote.end}",
        )

