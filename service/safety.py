"""Deterministic red-flag safety layer.

The rules live in a reviewed data file (``safety_rules.toml``); this module only
loads, validates and applies them. Matching works in three steps:

1. normalise every user turn (NFKC, casefold, straight quotes, no apostrophes,
   hyphens as spaces, no control characters) so patterns stay simple;
2. find *atomic concepts* (regex phrase lists) and keep only the affirmed ones,
   using a NegEx-style trigger/scope algorithm (``_NegEx``) that is the single
   place where negation, pseudo-negation and hypotheticals are decided;
3. combine concepts: a *composite concept* needs all of its parts affirmed in
   the same sentence, and a rule fires when every group of one of its ``when``
   alternatives has an affirmed concept within that alternative's scope
   (sentence, turn or the whole conversation).

Everything is compiled once in ``SafetyLayer.load``; ``check`` only runs
precompiled regexes and set operations, so it is fast and never needs a network.
Speed comes from (a) anchor words derived from each pattern's own parse tree, so a
pattern only runs where its anchor occurs, and (b) lazy, per-call evaluation: a concept
is matched only when a rule asks for it (rarest first), memoised per sentence text.
"""

from __future__ import annotations

import bisect
import functools
import datetime as dt
import re
import tomllib
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from service import rule_terms

Level = Literal["none", "see_doctor", "urgent", "emergency"]
RuleLevel = Literal["see_doctor", "urgent", "emergency"]
Scope = Literal["sentence", "turn", "conversation"]

_SEVERITY: dict[str, int] = {"none": 0, "see_doctor": 1, "urgent": 2, "emergency": 3}

DEFAULT_RULES_PATH = Path(__file__).with_name("safety_rules.toml")


@dataclass(frozen=True)
class SafetyResult:
    level: Level
    rules: tuple[str, ...]  # ids of fired rules, most severe first
    message: str | None  # fixed message of the most severe fired rule; None when level == "none"


NO_FLAGS = SafetyResult(level="none", rules=(), message=None)

# Used by callers when check() itself raises: never hand back an unchecked answer.
FAIL_CLOSED = SafetyResult(
    level="urgent",
    rules=("safety-layer-error",),
    message=(
        "We couldn't check your message for warning signs, so we won't give self-care "
        "advice right now. If your pain is severe, you cannot put weight on your leg, you "
        "have a fever, numbness or new bladder/bowel problems, or you feel very unwell, "
        "get medical help today (call your doctor or NHS 111); in an emergency call "
        "999 / 911 / 112 or go to A&E / the emergency department now."
    ),
)


class SafetyRulesError(Exception):
    """The rules file is invalid. ``str(e)`` is one line naming the rule/field."""


# --------------------------------------------------------------------------- schema


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_ID_RE = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
_CONCEPT_RE = r"^[a-z][a-z0-9_]*$"


class ConceptSpec(_Strict):
    """An atomic concept (``patterns``) or a same-sentence composite (``all_of``)."""

    description: str = ""
    patterns: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()  # idioms / look-alikes: a match overlapping one is dropped
    all_of: tuple[str, ...] = ()
    # Max words between a negation trigger and the match; 0 = never negated.
    negation_window: int = Field(default=6, ge=0, le=12)
    # Whether "signs of ...", "what if ..." etc. silence it (off for crisis language).
    hypothetical_silences: bool = True
    # Whether a sign said to be over later in the sentence ("...tingling down my leg but it
    # cleared up completely") is silenced. Off for history that matters however it ended:
    # a stress fracture or cancer in the past, years on steroids.
    resolution_silences: bool = True

    @model_validator(mode="after")
    def _one_kind(self) -> "ConceptSpec":
        if bool(self.patterns) == bool(self.all_of):
            raise ValueError("needs exactly one of 'patterns' or 'all_of'")
        if self.all_of and self.ignore:
            raise ValueError("'ignore' only applies to a concept with 'patterns'")
        return self


class WhenSpec(_Strict):
    within: Scope
    # AND over groups, OR inside a group.
    all: tuple[tuple[str, ...], ...] = Field(min_length=1)

    @field_validator("all")
    @classmethod
    def _groups_not_empty(cls, groups: tuple[tuple[str, ...], ...]) -> tuple[tuple[str, ...], ...]:
        if any(not g for g in groups):
            raise ValueError("every group must name at least one concept")
        return groups


class RuleSpec(_Strict):
    id: str = Field(pattern=_ID_RE)
    level: RuleLevel
    suspected: str = Field(min_length=1)
    message: str = Field(min_length=10)
    source: str = Field(min_length=5)
    when: tuple[WhenSpec, ...] = Field(min_length=1)
    negatable: bool = True  # documents whether a negated look-alike must silence it (tested)

    @field_validator("message", "source", "suspected")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()


class RulesFile(_Strict):
    version: str = Field(pattern=r"^\d{4}\.\d{2}\.\d+$")
    reviewed_by: str = Field(min_length=1)
    reviewed_on: dt.date
    terms: dict[str, str] = {}
    concepts: dict[str, ConceptSpec]
    rules: tuple[RuleSpec, ...] = Field(min_length=1)


# --------------------------------------------------------------------------- normalisation

_QUOTE_MAP = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "`": "'", "\u00b4": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-",
}
_QUOTE_CHARS = re.compile("[" + re.escape("".join(_QUOTE_MAP)) + "]")
# Only runs of 2+ blanks or non-space blanks: matching every single space would be slow.
_SPACES = re.compile(r" [^\S\n]+|[^\S\n ][^\S\n]*")
_NEWLINES = re.compile(r"\n\s*")


def normalise(text: str) -> str:
    """Canonical form all patterns are written against (see module docstring)."""
    if not text.isascii():  # ASCII is already NFKC and has no curly quotes: skip the slow paths
        text = unicodedata.normalize("NFKC", text)
        text = _QUOTE_CHARS.sub(lambda m: _QUOTE_MAP[m.group()], text)
    text = text.casefold()
    printable = text.replace("\n", " ").isprintable()
    if not printable:  # rare: control/format chars (NUL, zero-width, ...) become spaces
        text = "".join(ch if ch == "\n" or unicodedata.category(ch)[0] != "C" else " " for ch in text)
    # "can't" -> "cant", "12-year-old" -> "12 year old": patterns need no apostrophes/hyphens.
    text = text.replace("'", "").replace("-", " ")
    if not printable or "  " in text:
        text = _SPACES.sub(" ", text)
    if "\n" in text:
        text = _NEWLINES.sub("\n", text.replace(" \n", "\n"))
    return text.strip()


# Sentence ends: . ! ? ; or newline, but not the dot inside "38.5".
# A question answered in place stays one sentence, so the answer can negate it:
# "Fever? nope. Swelling? nah." is two sentences, not four.
_SENTENCE_END = re.compile(r"[.!?;\n][.!?;]*(?!\d)(?<!\?)|\?+(?!\s*(?:no|none|nope|nah|nil|negative|not really)\b)")
_WORD = re.compile(r"\w+")


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


# --------------------------------------------------------------------------- NegEx


class _NegEx:
    """NegEx-style negation (Chapman et al. 2001) adapted to lay runner language.

    The one place that decides whether a concept match is negated/hypothetical.
    A match is silenced when, inside its clause (scope ends at terminators such as
    "but", "however", sentence ends, or ", my/it/i ..."):
      * a pre-negation trigger ends at most ``window`` words before it, unless that
        trigger sits inside a pseudo-negation ("not only", "not sure if", ...) that
        ends before the match;
      * a post-negation trigger ("... has gone", "... ruled out", "... is fine")
        starts at most ``_POST_WINDOW`` words after it;
      * (optionally) a hypothetical trigger ("signs of", "what if") precedes it.
    Hedges ("maybe", "I think", "a bit") are deliberately NOT negations: an
    uncertain warning sign should still be escalated.
    """

    _PRE = re.compile(
        r"(?:no|not|never|none|nor|neither|without|denies|denied|nothing like|no longer"
        r"|free of|clear of|absence of|negative for|no sign of|no signs of|no evidence of"
        r"|dont|doesnt|didnt|isnt|arent|wasnt|werent|havent|hasnt|hadnt|aint|wont|wouldnt"
        r"|do not|does not|did not|is not|are not|was not|were not|have not|has not|had not"
        r"|zero|nope|nah|nae|nee|nowt)\b"  # Scots and Geordie "no", "nothing"
    )
    _PSEUDO = re.compile(
        r"(?:not only|not just|no doubt|not sure|not certain|no idea|no wonder|no matter"
        r"|not necessarily|never mind|dont know|do not know|didnt know|cant tell|not quite sure"
        r"|no increase|no change|not stop\w*|wont stop|doesnt stop|didnt stop|doesnt go away"
        r"|not going away|not get\w* better|not improv\w*|not eas\w*|doesnt (?:ease|settle|improve|help)"
        r"|not (?:settl|heal)\w*|hasnt (?:improved|settled|eased|gone|healed|helped|got)"
        r"|isnt (?:improving|getting|easing|settling|healing|going)|without (?:trying|meaning|dieting)"
        r"|no (?:better|improvement|relief|reason)|nothing (?:helps|works|eases)|not (?:trying|dieting)"
        r"|(?:cant|cannot|unable to|couldnt|could not|not able to)(?: \w+){1,3} without"
        # signs phrased with a negation: "he's confused, not making sense"
        r"|not making (?:any )?sense|not (?:himself|herself|themselves|myself)|not all there"
        r"|no (?:feeling|sensation)|not feel(?:ing)? (?:a thing|anything)"
        # resting, not a symptom ruled out: "rested it 10 days no running ... hip still the same"
        r"|no (?:running|runs|run|training|sport|exercise|jogging|gym))\b"
    )
    _HYPOTHETICAL = re.compile(
        r"(?:what if|in case|signs? of|symptoms? of|look out for|watch out for|watch for"
        r"|risk of|prevent\w*|avoid\w*|how (?:do|can|would|will|should) (?:i|you|one) (?:know|tell|spot)"
        r"|red flags?|hypothetical\w*|theoretically|in theory|suppos\w*|imagine|lets say|(?:^|(?<=[,.;:!?] ))say (?:i|you|someone)"
        # the generic "you": "if your hip goes hot and swollen with a fever you need A&E"
        r"|if (?:you|your|someone|somebody|anyone|a person|people|a runner|an athlete|a player)"
        # a question reported, not a symptom: "she asked me if hip pain at night is a red flag"
        r"|asked (?:me |us |him |her |them )?(?:if|whether)"
        r"|what (?:would|will|could|should i do|do i do|happens|to do) (?:happen )?if|if(?= (?:\w+ ){0,3}ever\b)|in the future|god forbid"
        # a sign asked about in general: "what does a locking hip mean", "what does it mean if
        # hip pain wakes you", "is numbness in the groin ever serious?" (not "...if MY hip locks")
        r"|what does (?:a|an)|what does it mean (?:if|when)(?! (?:my|i|im|mine|me)\b)|is(?= (?:\w+ ){1,6}ever (?:serious|dangerous|a (?:sign|red flag)|an emergency)))\b"
    )
    _POST = re.compile(
        r"(?:(?:is|are|was|were|has been|have been|feels?|seems?|looks?) (?:fine|ok|okay|normal|all good)"
        r"|ruled out|went away|gone away|(?:has|have|had) gone(?! (?:from|up|worse|bad|mad|massive|huge|numb|dead|red|hot|warm|swollen|puffy|stiff|weak|purple|black|blue|really|very|so|a bit|all))|went down|gone down|settled down"
        r"|resolved|cleared up|disappeared|(?:is|are|was|were) negative|(?:is|was) not an issue"
        r"|(?:is|was|are|were) absent|nothing like (?:that|this)|(?:havent|have not|hasnt|dont|do not) (?:got |had |have )?anything like (?:that|this))\b"
        r"|[?:] ?(?:no|none|nope|nah|nil|negative|not really)\b"
        # A checklist answered after the sign: "fever no, redness no", "night pain - none".
        r"|(?:\s+|\s*[-\u2013\u2014]\s*)(?:no|none|nope|nah|nil|negative)\b(?=\s*(?:[,.;!]|$))"
    )
    _TERMINATOR = re.compile(
        r"(?:but|however|although|though|except|except for|yet|whereas|apart from|aside from"
        r"|other than|besides|because|cause|cos|since|until|after|when|whenever|which|so|then|still"
        r"|plus|also)\b"
        r"|(?:,|\band\b|\bor\b)\s*(?=(?:my|the|it|its|i|im|ive|id|now|this|that|he|she|they|his|her|just|only"
        r"|their|there|theres|today|yesterday|last|every|sometimes|suddenly|then|we)\b)"
        r"|[,:(\-]\s*(?:and )?now\b|[()\"]"
    )
    # A sign said to be over, later in the same sentence and past a "but" or "since": "I had
    # tingling down my leg last year but it cleared up completely", "my hip used to lock,
    # since the surgery it's been perfect", "night sweats ... and they're gone". The clause
    # must end there: "it's gone down a bit" is better, not over.
    _RESOLVED = re.compile(
        r"(?:it|its|they|theyre|that|thats|this|those|these|which|everything|all that|the \w+)(?: (?:has|have|had|is|are|was|were|s|re))?"
        r"(?: (?:all|completely|totally|fully|long|now))? (?:cleared up|cleared|gone|went away|gone away|resolved|healed|settled|disappeared|stopped)"
        r"(?: (?:now|completely|totally|since|for good|ages ago|years ago|(?:after|with) (?:the |my |some |a )?\w+))*(?= ?(?:[,.;!?]|$|and\b|but\b|so\b|now\b))"
        r"|(?:its|it has|ive|i have|hes|shes|theyve) been (?:perfect|fine|great|ok|okay|good|grand|brilliant|no problem|problem free|pain free)\b"
        r"|(?:fully|completely|totally) (?:recovered|healed|resolved|better)\b"
        # "physio sorted it and I've had no symptoms for 8 months"
        r"|(?:physio|doctor|gp|surgeon|osteo|chiro|surgery|operation|treatment|rest)\w* (?:sorted|fixed|cured) (?:it|me|that|them)\b"
        r"|(?:had|have had|ive had|been|with) no (?:symptoms|problems|issues|trouble|bother|recurrence)(?: \w+)? (?:since|for (?:\d+|a|two|three|four|five|six|several|many) (?:weeks|months|years))"
    )
    # "...hasn't gone away", "...never went away": the sign is still there
    _NOT_OVER = re.compile(r"\b(?:not|never|hasnt|havent|hadnt|isnt|wasnt|didnt|doesnt|wont|nt)\s+(?:(?:really|fully|completely|quite|totally|yet|ever)\s+)?$")
    _RESOLVED_WINDOW = 16
    _POST_WINDOW = 4
    _HYPO_WINDOW = 12

    def __init__(self, text: str) -> None:
        # One per sentence; every trigger list is computed only when first needed.
        self._text = text

    def _spans(self, rx: re.Pattern[str]) -> list[tuple[int, int]]:
        # The trigger regexes have no leading \b (it would disable re's fast prefix scan),
        # so a match beginning inside a word ("piano" for "no") is dropped here.
        text = self._text
        return [
            m.span() for m in rx.finditer(text)
            if not (m.start() and _is_word_char(text[m.start()]) and _is_word_char(text[m.start() - 1]))
        ]

    @functools.cached_property
    def _pre(self) -> list[tuple[int, int]]:
        return self._spans(self._PRE)

    @functools.cached_property
    def _pseudo(self) -> list[tuple[int, int]]:
        return self._spans(self._PSEUDO)

    @functools.cached_property
    def _hypo(self) -> list[tuple[int, int]]:
        return self._spans(self._HYPOTHETICAL)

    @functools.cached_property
    def _post(self) -> list[tuple[int, int]]:
        return self._spans(self._POST)

    @functools.cached_property
    def _resolved(self) -> list[tuple[int, int]]:
        return self._spans(self._RESOLVED)

    @functools.cached_property
    def _terms(self) -> tuple[list[int], list[int]]:
        spans = self._spans(self._TERMINATOR)
        return [s for s, _ in spans], sorted(e for _, e in spans)

    def _words_between(self, start: int, end: int) -> int:
        return len(_WORD.findall(self._text, start, end)) if end > start else 0

    def _left(self, start: int) -> int:
        ends = self._terms[1]
        i = bisect.bisect_right(ends, start)
        return ends[i - 1] if i else 0

    def _right(self, end: int) -> int:
        starts = self._terms[0]
        j = bisect.bisect_left(starts, end)
        return starts[j] if j < len(starts) else len(self._text)

    @staticmethod
    def _between(spans: list[tuple[int, int]], left: int, right: int) -> list[tuple[int, int]]:
        lo = bisect.bisect_left(spans, (left, -1))
        hi = bisect.bisect_left(spans, (right, -1))
        return spans[lo:hi]

    def _neutralised(self, trig: tuple[int, int], match_start: int) -> bool:
        return any(ps <= trig[0] and trig[1] <= pe <= match_start for ps, pe in self._pseudo)

    def silenced(self, start: int, end: int, window: int, hypothetical: bool, resolution: bool = True) -> bool:
        if window <= 0:
            return False
        if resolution and any(self._words_between(end, rs) <= self._RESOLVED_WINDOW for rs, _ in self._between(self._resolved, end, len(self._text) + 1)):
            return True
        # Cheap test first (is there any trigger before/after at all?); scope only if so.
        pre = self._between(self._pre, 0, start)
        hypo = self._between(self._hypo, 0, start) if hypothetical else []
        if pre or hypo:
            left = self._left(start)
            for trig in pre:
                if trig[0] >= left and trig[1] <= start and self._words_between(trig[1], start) <= window:
                    if not self._neutralised(trig, start):
                        return True
            for hs, he in hypo:
                if hs >= left and he <= start and self._words_between(he, start) <= max(window, self._HYPO_WINDOW):
                    return True
        post = self._between(self._post, end, len(self._text) + 1)
        if post:
            right = self._right(end)
            for ps, pe in post:
                # "groin hurts, right one is fine": after a comma the words are about something else.
                if pe <= right and self._words_between(end, ps) <= self._POST_WINDOW and not _CLAUSE_BREAK.search(self._text, end, ps):
                    if not self._NOT_OVER.search(self._text, max(0, ps - 30), ps):
                        return True
        return False


# --------------------------------------------------------------------------- compiled form

_CLAUSE_BREAK = re.compile(r"[,;]")
# A quantified group that itself contains an unbounded quantifier: (a+)+, (\w+\s)* ...
_NESTED_QUANT = re.compile(r"\((?:[^()]|\([^()]*\))*[+*](?:[^()]|\([^()]*\))*\)[+*]")
_MAX_ANCHORS_PER_PATTERN = 64


@dataclass(frozen=True)
class _Atomic:
    name: str
    patterns: tuple[re.Pattern[str], ...]  # each whole-word; run only when its anchors occur
    ignore: re.Pattern[str] | None
    window: int
    hypothetical: bool
    resolution: bool


@dataclass(frozen=True)
class _When:
    within: Scope
    groups: tuple[frozenset[str], ...]


@dataclass(frozen=True)
class _Rule:
    id: str
    level: RuleLevel
    message: str
    whens: tuple[_When, ...]
    negatable: bool


Hit = tuple[int, int]  # (turn index, sentence index within the turn)


def _expand(pattern: str, terms: Mapping[str, str], where: str) -> str:
    try:
        return rule_terms.expand(pattern, terms)
    except ValueError as exc:
        raise SafetyRulesError(f"{where}: {exc}") from None


def _checked(raw: str, terms: Mapping[str, str], where: str) -> str:
    pat = _expand(raw, terms, where)
    if _NESTED_QUANT.search(pat):
        raise SafetyRulesError(f"{where}: nested unbounded quantifier (backtracking risk) in pattern {raw!r}")
    try:
        re.compile(pat)
    except re.error as exc:
        raise SafetyRulesError(f"{where}: pattern {raw!r} does not compile: {exc}") from None
    return pat


def _compile_alternation(patterns: Iterable[str], terms: Mapping[str, str], where: str) -> re.Pattern[str]:
    parts = [f"(?:{_checked(raw, terms, where)})" for raw in patterns]
    # Whole-word matching everywhere, so "red" never matches inside "tired".
    return re.compile(r"(?<!\w)(?:" + "|".join(parts) + r")(?!\w)")


# ---- anchors: why check() is fast
#
# Python's re tries every alternative at every position, which is far too slow for
# hundreds of patterns over long conversations. So at load time we derive, from each
# pattern's own parse tree, the literal strings a match must START with ("anchors",
# e.g. "fever", "cant ", "long "). check() finds candidate words with ONE trie-shaped
# regex pass and then runs only the patterns anchored there, with .match() at that
# position. Anchors come from the regex itself, so they can never disagree with it;
# patterns with no usable anchor fall back to a full scan.


# Words too common to be a useful anchor (they would make almost every sentence a candidate).
_WEAK_ANCHORS = frozenset(
    "a an i im my me the to of on in at is it its be was as and or so do".split()
)


def _anchor_score(anchors: frozenset[tuple[str, bool]]) -> int:
    """Selectivity of the weakest anchor: stop-words are useless, numbers are rare."""

    def one(word: str, exact: bool) -> int:
        if word in _WEAK_ANCHORS:
            return 0
        if word.isdigit():
            return 3
        return len(word) if exact or len(word) >= 3 else 1

    return min(one(w, e) for w, e in anchors)


def _after(items: list[Any], boundary: bool) -> bool:
    """Is the position after ``items`` known to follow a non-word char (a word start)?"""
    from re import _constants as C

    for op, av in items:
        if op is C.LITERAL:
            ch = chr(av)
            boundary = not (ch.isalnum() or ch == "_")
        elif op is C.SUBPATTERN:
            boundary = _after(list(av[-1]), boundary)
        elif op is C.BRANCH:
            boundary = all(_after(list(alt), boundary) for alt in av[1])
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
            once = _after(list(av[2]), boundary)
            boundary = once if av[0] >= 1 else (boundary and once)
        elif op in (C.AT, C.ASSERT, C.ASSERT_NOT):
            continue
        else:
            boundary = False
    return boundary


def _required(items: list[Any], at_word_start: bool, at_end: bool) -> frozenset[tuple[str, bool]] | None:
    """Best set of (word, exact) such that every match of ``items`` contains one of them.

    ``exact`` means the whole word must equal ``word``; otherwise the word starts with it.
    Only words known to begin at a word boundary are used, so a word index can find them.
    ``at_end``: the position after ``items`` is known to be followed by a non-word char.
    """
    from re import _constants as C  # stdlib parser internals; used only at load time

    best: frozenset[tuple[str, bool]] | None = None
    boundary = at_word_start  # is the next position known to be a word start?
    i = 0
    while i < len(items):
        op, av = items[i]
        cand: frozenset[tuple[str, bool]] | None = None
        nxt = items[i + 1] if i + 1 < len(items) else None
        ends_word = at_end if nxt is None else (nxt[0] is C.LITERAL and not (chr(nxt[1]).isalnum() or chr(nxt[1]) == "_"))
        if op is C.LITERAL:
            run = []
            while i < len(items) and items[i][0] is C.LITERAL:
                run.append(chr(items[i][1]))
                i += 1
            text = "".join(run)
            run_ends_word = at_end if i >= len(items) else (
                items[i][0] is C.LITERAL and not (chr(items[i][1]).isalnum() or chr(items[i][1]) == "_")
            )
            for m in re.finditer(r"\w+", text):
                starts_ok = (m.start() > 0) or boundary
                exact = m.end() < len(text) or run_ends_word
                if starts_ok:
                    c = frozenset({(m.group(), exact)})
                    if cand is None or _anchor_score(c) > _anchor_score(cand):
                        cand = c
            boundary = not (text[-1].isalnum() or text[-1] == "_")
            if cand is not None and (best is None or _anchor_score(cand) > _anchor_score(best)):
                best = cand
            continue
        if op is C.SUBPATTERN:
            cand = _required(list(av[-1]), boundary, ends_word)
        elif op is C.BRANCH:
            alts = [_required(list(alt), boundary, ends_word) for alt in av[1]]
            if all(x is not None for x in alts):
                cand = frozenset().union(*alts)  # type: ignore[arg-type]
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT) and av[0] >= 1:
            cand = _required(list(av[2]), boundary, ends_word and av[1] == 1)
        elif op is C.IN and boundary:
            chars: list[str] = []
            for o, a in av:
                if o is C.LITERAL:
                    chars.append(chr(a))
                elif o is C.RANGE and a[1] - a[0] <= 12:
                    chars.extend(chr(c) for c in range(a[0], a[1] + 1))
                else:
                    chars = []
                    break
            if chars and all(c.isalnum() for c in chars):
                cand = frozenset((c, False) for c in chars)
        if cand is not None and len(cand) <= _MAX_ANCHORS_PER_PATTERN:
            if best is None or _anchor_score(cand) > _anchor_score(best):
                best = cand
        boundary = _after([items[i]], boundary)
        i += 1
    return best


def _literal_firsts(items: list[Any]) -> set[str] | None:
    """Literal prefixes every match of ``items`` starts with, or None if unknown."""
    from re import _constants as C

    if not items:
        return None
    op, av = items[0]
    rest = items[1:]
    if op is C.LITERAL:
        run = []
        for o, a in items:
            if o is not C.LITERAL:
                break
            run.append(chr(a))
        if len(run) == len(items):
            run.append(" ")  # the pattern is followed by (?!\w): the word ends here
        return {"".join(run)}
    if op is C.SUBPATTERN:
        return _literal_firsts(list(av[-1]) + rest)
    if op is C.BRANCH:
        out: set[str] = set()
        for alt in av[1]:
            sub = _literal_firsts(list(alt) + rest)
            if sub is None:
                return None
            out |= sub
        return out
    if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
        first = _literal_firsts(list(av[2]) + rest)
        if av[0] >= 1 or first is None:
            return first
        after = _literal_firsts(rest)
        return None if after is None else first | after
    if op is C.IN:
        chars: set[str] = set()
        for o, a in av:
            if o is C.LITERAL:
                chars.add(chr(a))
            elif o is C.RANGE and a[1] - a[0] <= 12:
                chars.update(chr(c) for c in range(a[0], a[1] + 1))
            else:
                return None
        return chars
    return None


def _start_anchors(pattern: str) -> tuple[tuple[str, bool], ...] | None:
    """Words a match must START with; None when unknown or too weak to be worth it."""
    from re import _parser

    firsts = _literal_firsts(list(_parser.parse(pattern).data))
    if not firsts or len(firsts) > _MAX_ANCHORS_PER_PATTERN:
        return None
    out = set()
    for lit in firsts:
        word = re.match(r"\w*", lit).group()  # type: ignore[union-attr]
        if not word:
            return None
        out.add((word, len(word) < len(lit)))
    anchors = frozenset(out)
    return tuple(sorted(anchors)) if _anchor_score(anchors) >= 2 else None


def _anchors(pattern: str) -> tuple[tuple[str, bool], ...] | None:
    """Anchor words for a pattern, or None when it has none good enough (full scan)."""
    from re import _parser

    req = _required(list(_parser.parse(pattern).data), at_word_start=True, at_end=True)
    if not req or _anchor_score(req) < 2:
        return None
    return tuple(sorted(req))


def _trie_regex(words: Iterable[str]) -> str:
    """Alternation factored by leading character, so re's branch skipping stays cheap."""
    trie: dict[str, Any] = {}
    for w in words:
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict[str, Any]) -> str:
        alts = [re.escape(ch) + emit(child) for ch, child in sorted(node.items()) if ch]
        optional = "" in node
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        return f"(?:{body})?" if optional else body

    return emit(trie)


Key = tuple[int, int]  # (concept index, pattern index)


class _AnchorIndex:
    """Maps anchor words to the patterns that need them.

    A "start" pattern is tried with .match() exactly where one of its leading words occurs
    (cheapest); a "sentence" pattern is searched in each sentence containing one of its
    required words; "always" patterns (no usable anchor) are searched in every sentence.
    """

    def __init__(
        self,
        start: Mapping[Key, Iterable[tuple[str, bool]]],
        sentence: Mapping[Key, Iterable[tuple[str, bool]]],
        always: Iterable[Key],
    ) -> None:
        self._prefix: dict[str, list[tuple[bool, Key]]] = {}
        self._exact: dict[str, list[tuple[bool, Key]]] = {}
        for is_start, table in ((True, start), (False, sentence)):
            for key, anchors in table.items():
                for word, exact in anchors:
                    (self._exact if exact else self._prefix).setdefault(word, []).append((is_start, key))
        self._always = tuple(always)
        self._always_atoms = frozenset(ai for ai, _ in self._always)
        self._lengths = sorted({len(w) for w in self._prefix})
        words = set(self._prefix) | set(self._exact)
        # Finds whole words that start with some anchor; which patterns apply is a dict lookup.
        # No leading (?<!\w) (it would disable re's first-character skipping); a hit that
        # starts mid-word is dropped in candidates(), and \w* consumes the rest of that word.
        self._finder = re.compile(_trie_regex(words) + r"\w*") if words else None

    def _lookup(self, word: str, memo: dict[str, dict[int, tuple[tuple[int, bool], ...]]]) -> dict[int, tuple[tuple[int, bool], ...]]:
        """concept index -> ((pattern index, match-at-start?), ...) for one word (memoised)."""
        hit = memo.get(word)
        if hit is None:
            acc: dict[int, list[tuple[int, bool]]] = {}
            entries = list(self._exact.get(word, ()))
            for n in self._lengths:
                if n > len(word):
                    break
                entries.extend(self._prefix.get(word[:n], ()))
            for is_start, (ai, pi) in entries:
                acc.setdefault(ai, []).append((pi, is_start))
            hit = memo[word] = {ai: tuple(v) for ai, v in acc.items()}
        return hit

    def candidates(self, sentence: str, memo: dict[str, Any]) -> tuple[list[tuple[int, dict[int, Any]]], set[int]]:
        """Anchor hits [(position, concept -> patterns)] and the set of concepts they touch.

        Expanding hits into per-pattern work is left to the (lazy) matcher, because most
        concepts touched by a sentence are never asked about."""
        hits: list[tuple[int, dict[int, Any]]] = []
        atoms: set[int] = set(self._always_atoms)
        if self._finder is not None:
            for m in self._finder.finditer(sentence):
                pos = m.start()
                if pos and _is_word_char(sentence[pos - 1]):
                    continue
                table = self._lookup(m.group(), memo)
                if table:
                    hits.append((pos, table))
                    atoms.update(table)
        return hits, atoms

    def plan(self, ai: int, hits: list[tuple[int, dict[int, Any]]]) -> dict[int, list[int] | None]:
        """pattern index -> start positions to .match(), or None = search the sentence."""
        out: dict[int, list[int] | None] = {pi: None for a, pi in self._always if a == ai}
        for pos, table in hits:
            for pi, is_start in table.get(ai, ()):
                if not is_start:
                    out[pi] = None
                elif pi not in out:
                    out[pi] = [pos]
                else:
                    positions = out[pi]
                    if positions is not None:
                        positions.append(pos)
        return out


def _word_matches(rx: re.Pattern[str], text: str) -> Iterable[tuple[int, int]]:
    """Matches of ``rx`` that start at a word start (rx itself already ends at a word end)."""
    pos = 0
    while True:
        m = rx.search(text, pos)
        if m is None:
            return
        s, e = m.span()
        if s and (text[s - 1].isalnum() or text[s - 1] == "_"):
            pos = s + 1  # started mid-word; a real match may still begin inside this span
            continue
        yield s, e
        pos = max(e, s + 1)


def _validation_error_line(exc: ValidationError, raw: Mapping[str, Any]) -> str:
    err = exc.errors()[0]
    loc = list(err["loc"])
    where = "rules file"
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        rules = raw.get("rules") or []
        rid = rules[loc[1]].get("id", f"#{loc[1] + 1}") if loc[1] < len(rules) and isinstance(rules[loc[1]], dict) else f"#{loc[1] + 1}"
        where = f"rule '{rid}'"
        loc = loc[2:]
    elif len(loc) >= 2 and loc[0] == "concepts":
        where = f"concept '{loc[1]}'"
        loc = loc[2:]
    field = ".".join(str(p) for p in loc) or "(whole entry)"
    msg = " ".join(str(err["msg"]).split())
    return f"invalid safety rules: {where}: field '{field}': {msg}"


def _users_of(concept: str, spec: RulesFile) -> str:
    users = sorted(
        r.id for r in spec.rules for w in r.when for g in w.all
        if concept in g or any(concept in spec.concepts[c].all_of for c in g if c in spec.concepts)
    )
    return f" (used by rule {', '.join(repr(u) for u in users)})" if users else ""


# --------------------------------------------------------------------------- layer


class SafetyLayer:
    """Immutable once loaded; safe to share between requests/threads."""

    def __init__(
        self,
        version: str,
        atomics: tuple[_Atomic, ...],
        composites: Mapping[str, tuple[str, ...]],
        rules: tuple[_Rule, ...],
        anchors: _AnchorIndex,
    ) -> None:
        self.version = version
        self._anchors = anchors
        self._atomics = atomics
        self._composites = dict(composites)
        self._rules = rules
        self.rule_ids: tuple[str, ...] = tuple(r.id for r in rules)
        # Rules whose signs can be denied ("no fever"); the tests require a silencing case for each.
        self.negatable_rule_ids: frozenset[str] = frozenset(r.id for r in rules if r.negatable)

    # ---- loading / validation

    @classmethod
    def load(cls, path: Path = DEFAULT_RULES_PATH) -> "SafetyLayer":
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise SafetyRulesError(f"cannot read safety rules file {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise SafetyRulesError(f"safety rules file {path} is not valid TOML: {exc}") from None
        try:
            spec = RulesFile.model_validate(raw)
        except ValidationError as exc:
            raise SafetyRulesError(_validation_error_line(exc, raw)) from None
        return cls._build(spec)

    @classmethod
    def _build(cls, spec: RulesFile) -> "SafetyLayer":
        seen: set[str] = set()
        for rule in spec.rules:
            if rule.id in seen:
                raise SafetyRulesError(f"invalid safety rules: rule '{rule.id}': duplicate id")
            seen.add(rule.id)
        for name in spec.concepts:
            if not re.match(_CONCEPT_RE, name):
                raise SafetyRulesError(f"invalid safety rules: concept '{name}': name must be snake_case")
        for name, concept in spec.concepts.items():
            for part in concept.all_of:
                target = spec.concepts.get(part)
                if target is None or target.all_of:
                    raise SafetyRulesError(
                        f"invalid safety rules: concept '{name}': 'all_of' part '{part}' "
                        "must be an existing pattern concept"
                    )
        used: set[str] = set()
        for rule in spec.rules:
            for when in rule.when:
                for group in when.all:
                    for cname in group:
                        if cname not in spec.concepts:
                            raise SafetyRulesError(
                                f"invalid safety rules: rule '{rule.id}': field 'when.all': unknown concept '{cname}'"
                            )
                        used.add(cname)
                        used.update(spec.concepts[cname].all_of)
        unused = sorted(set(spec.concepts) - used)
        if unused:
            raise SafetyRulesError(f"invalid safety rules: concept '{unused[0]}': not used by any rule")

        atomics = []
        start_anchored: dict[Key, tuple[tuple[str, bool], ...]] = {}
        anchored: dict[Key, tuple[tuple[str, bool], ...]] = {}
        always: list[Key] = []
        for name, concept in spec.concepts.items():
            if concept.all_of:
                continue
            where = f"invalid safety rules: concept '{name}'{_users_of(name, spec)}"
            compiled = []
            for raw in concept.patterns:
                pat = _checked(raw, spec.terms, where)
                key = (len(atomics), len(compiled))
                if (firsts := _start_anchors(pat)) is not None:
                    start_anchored[key] = firsts
                elif (anchors := _anchors(pat)) is not None:
                    anchored[key] = anchors
                else:
                    always.append(key)
                # No leading (?<!\w): it would disable re's fast literal-prefix search; the
                # start-of-word check is done in _word_matches instead.
                compiled.append(re.compile(r"(?:" + pat + r")(?!\w)"))
            atomics.append(
                _Atomic(
                    name=name,
                    patterns=tuple(compiled),
                    ignore=_compile_alternation(concept.ignore, spec.terms, where + " ignore") if concept.ignore else None,
                    window=concept.negation_window,
                    hypothetical=concept.hypothetical_silences,
                    resolution=concept.resolution_silences,
                )
            )
        composites = {n: c.all_of for n, c in spec.concepts.items() if c.all_of}
        # Stable sort: most severe first, file order within a level.
        ordered = sorted(spec.rules, key=lambda r: -_SEVERITY[r.level])
        rules = tuple(
            _Rule(
                id=r.id,
                level=r.level,
                message=r.message,
                whens=tuple(_When(w.within, tuple(frozenset(g) for g in w.all)) for w in r.when),
                negatable=r.negatable,
            )
            for r in ordered
        )
        return cls(spec.version, tuple(atomics), composites, rules, _AnchorIndex(start_anchored, anchored, always))

    # ---- matching

    def check(self, user_turns: Sequence[str]) -> SafetyResult:
        ev = _Evaluation(self, user_turns)
        fired = [r for r in self._rules if any(ev.holds(w) for w in r.whens)]
        if not fired:
            return NO_FLAGS
        return SafetyResult(level=fired[0].level, rules=tuple(r.id for r in fired), message=fired[0].message)


class _Evaluation:
    """State of ONE check() call. Concepts are matched lazily, only when a rule needs them,
    cheapest/rarest first, so common words ("hip", "pain") are rarely matched at all in long
    benign text. A sentence's verdict for a concept depends only on the sentence's text, so it
    is memoised by text (repeated or quoted sentences cost nothing)."""

    def __init__(self, layer: SafetyLayer, user_turns: Sequence[str]) -> None:
        self._layer = layer
        self._texts: list[str] = []  # distinct sentence texts
        self._where: list[list[Hit]] = []  # text index -> where it occurs
        self._cands: list[list[tuple[int, dict[int, Any]]]] = []  # text index -> anchor hits
        self._atom_texts: dict[int, list[int]] = {}  # atomic concept -> text indices with an anchor for it
        self._verdict: dict[tuple[int, int], bool] = {}  # (text index, atomic index) -> affirmed?
        self._negex: dict[int, _NegEx] = {}
        self._hits: dict[str, set[Hit]] = {}
        index: dict[str, int] = {}
        word_memo: dict[str, Any] = {}
        for t, raw in enumerate(user_turns):
            text = normalise(raw if isinstance(raw, str) else str(raw))
            start = 0
            for sid, end in enumerate([m.end() for m in _SENTENCE_END.finditer(text)] + [len(text)]):
                sentence = text[start:end]
                start = end
                ti = index.get(sentence)
                if ti is None:
                    ti = index[sentence] = len(self._texts)
                    self._texts.append(sentence)
                    self._where.append([])
                    hits, atoms = layer._anchors.candidates(sentence, word_memo)
                    self._cands.append(hits)
                    for ai in atoms:
                        self._atom_texts.setdefault(ai, []).append(ti)
                self._where[ti].append((t, sid))
        self._atom_index = {a.name: i for i, a in enumerate(layer._atomics)}

    # ---- cost model: how many sentences could possibly contain the concept

    def _cost(self, name: str) -> int:
        parts = self._layer._composites.get(name)
        if parts:
            return min(self._cost(p) for p in parts)
        return len(self._atom_texts.get(self._atom_index[name], ()))

    # ---- concept hits

    def hits(self, name: str) -> set[Hit]:
        found = self._hits.get(name)
        if found is None:
            parts = self._layer._composites.get(name)
            if parts:
                found = self._composite(parts)
            else:
                ai = self._atom_index[name]
                found = {h for ti in self._atom_texts.get(ai, ()) if self._affirmed(ti, ai) for h in self._where[ti]}
            self._hits[name] = found
        return found

    def _composite(self, parts: tuple[str, ...]) -> set[Hit]:
        ordered = sorted(parts, key=self._cost)
        found = self.hits(ordered[0])
        for part in ordered[1:]:
            if not found:
                break
            if part in self._hits or part in self._layer._composites:
                found = found & self.hits(part)
            else:  # only look where the rarer part already matched
                ai = self._atom_index[part]
                cand = set(self._atom_texts.get(ai, ()))
                found = {h for h in found if any(ti in cand and self._affirmed(ti, ai) for ti in self._texts_at(h))}
        return found

    def _texts_at(self, hit: Hit) -> list[int]:
        # Small inverse lookup, built on first use.
        inv = self.__dict__.get("_inv")
        if inv is None:
            inv = self.__dict__["_inv"] = {h: ti for ti, hs in enumerate(self._where) for h in hs}
        return [inv[hit]]

    def holds(self, when: _When) -> bool:
        groups = sorted(when.groups, key=lambda g: min(self._cost(c) for c in g))
        group_sets = []
        for group in groups:
            found: set[Hit] = set()
            for cname in sorted(group, key=self._cost):
                found |= self.hits(cname)
            if not found:
                return False
            group_sets.append(found)
        if when.within == "conversation":
            return True
        if when.within == "turn":
            group_sets = [{t for t, _ in s} for s in group_sets]  # type: ignore[misc]
        return bool(set.intersection(*group_sets))

    # ---- one concept in one sentence

    def _affirmed(self, ti: int, ai: int) -> bool:
        key = (ti, ai)
        verdict = self._verdict.get(key)
        if verdict is None:
            verdict = self._verdict[key] = self._match(ti, ai)
        return verdict

    def _match(self, ti: int, ai: int) -> bool:
        sentence = self._texts[ti]
        atom = self._layer._atomics[ai]
        ignored: list[tuple[int, int]] | None = None
        for pi, positions in sorted(self._layer._anchors.plan(ai, self._cands[ti]).items()):
            rx = atom.patterns[pi]
            if positions is None:
                spans: Iterable[tuple[int, int]] = _word_matches(rx, sentence)
            else:
                spans = (m.span() for m in (rx.match(sentence, p) for p in positions) if m)
            for s, e in spans:
                if atom.ignore is not None:
                    if ignored is None:
                        ignored = [x.span() for x in atom.ignore.finditer(sentence)]
                    if any(a < e and s < b for a, b in ignored):
                        continue
                negex = self._negex.get(ti)
                if negex is None:
                    negex = self._negex[ti] = _NegEx(sentence)
                if not negex.silenced(s, e, atom.window, atom.hypothetical, atom.resolution):
                    return True
        return False
