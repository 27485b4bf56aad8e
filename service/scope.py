"""The scope gate: classes of question the articles do not answer, however close they sound.

Rules are data (`scope_rules.toml`), validated at start-up like the safety rules.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from service import rule_terms
from service.vocabulary import words

DEFAULT_SCOPE_PATH = Path(__file__).with_name("scope_rules.toml")
READS = ("text", "question", "written")


class ScopeRulesError(Exception):
    """The scope rules file is invalid; str() names the rule and the problem."""


@dataclass(frozen=True)
class ScopeRule:
    id: str
    patterns: tuple[re.Pattern[str], ...]
    unless: tuple[re.Pattern[str], ...]
    # What the rule reads (`reads` in the rules file):
    #   "text"     the question with the earlier turns it leans on (the default);
    #   "question" the follow-up's own words: "what about my shoulder?" after a hip question
    #              is about the shoulder;
    #   "written"  the message as the runner wrote it, ruled-out symptoms and all: "one word
    #              answer, no hedging" and "don't quote articles, I want a diagnosis" are
    #              demands, which reading "no ..." and "don't ..." as ruled out would drop.
    reads: str = "text"

    def matches(self, text: str) -> bool:
        return any(p.search(text) for p in self.patterns) and not any(p.search(text) for p in self.unless)


@dataclass(frozen=True)
class ScopeGate:
    version: str
    rules: tuple[ScopeRule, ...]
    also_covered: tuple[str, ...] = ()  # lay words for things the articles cover in other words
    topic: tuple[re.Pattern[str], ...] = ()  # a question matching none of these is off the articles' subject
    lay_terms: tuple[tuple[str, str], ...] = ()  # (runner's word, the articles' words for it)
    # The articles' own specialist words ("bursae", "clamshells"): a conversation using one is on
    # the subject whatever `topic` lists. Filled in from the corpus by the engine.
    topic_words: frozenset[str] = frozenset()

    @classmethod
    def load(cls, path: Path = DEFAULT_SCOPE_PATH) -> ScopeGate:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ScopeRulesError(f"cannot read scope rules {path}: {exc}") from exc
        terms = data.get("terms", {})
        rules, seen = [], set()
        for index, raw in enumerate(data.get("rules", [])):
            rule_id = raw.get("id") or f"#{index}"
            if rule_id in seen:
                raise ScopeRulesError(f"scope rule {rule_id}: duplicate id")
            seen.add(rule_id)
            if not raw.get("patterns") or not raw.get("why"):
                raise ScopeRulesError(f"scope rule {rule_id}: needs 'patterns' and 'why'")
            try:
                compile_all = lambda items: tuple(re.compile(rule_terms.expand(p, terms), re.IGNORECASE) for p in items)  # noqa: E731
                rules.append(ScopeRule(rule_id, compile_all(raw["patterns"]), compile_all(raw.get("unless", [])), raw.get("reads", "text")))
            except (re.error, ValueError) as exc:
                raise ScopeRulesError(f"scope rule {rule_id}: bad pattern ({exc})") from exc
            if rules[-1].reads not in READS:
                raise ScopeRulesError(f"scope rule {rule_id}: 'reads' must be one of {', '.join(READS)}")
        try:
            topic = tuple(re.compile(p, re.IGNORECASE) for p in data.get("topic", []))
        except re.error as exc:
            raise ScopeRulesError(f"scope topic: bad pattern ({exc})") from exc
        lay_terms = data.get("lay_terms", {})
        if not all(isinstance(v, str) and v.strip() for v in lay_terms.values()):
            raise ScopeRulesError("scope lay_terms: every entry needs the articles' words as a non-empty string")
        also_covered = tuple(str(w).lower() for w in data.get("also_covered", []))
        return cls(str(data.get("version", "")), tuple(rules), also_covered, topic, tuple((k.lower(), v) for k, v in lay_terms.items()))

    def out_of_scope(self, text: str, conversation: str | None = None, question: str | None = None, as_written: str | None = None) -> str | None:
        """Id of the first rule the question falls under, "off-topic" when the conversation
        (default: the question) never touches the articles' subject, or None. `text` is the
        question with any earlier turns it leans on; `question` (default: `text`) is its own
        words, for the rules that read "question"; `as_written` (default: `question`) is the
        message before ruled-out symptoms were left out, for the rules that read "written"."""
        normalised = _normalised(text)
        if self.topic and not self.on_topic(conversation if conversation is not None else normalised):
            return "off-topic"
        own = normalised if question is None else _normalised(question)
        read = {"text": normalised, "question": own, "written": own if as_written is None else _normalised(as_written)}
        return next((rule.id for rule in self.rules if rule.matches(read[rule.reads])), None)


    def on_topic(self, conversation: str) -> bool:
        return any(p.search(conversation) for p in self.topic) or any(word in self.topic_words for word in words(conversation))


def _normalised(text: str) -> str:
    return " ".join(text.replace("\u2019", "'").split())
