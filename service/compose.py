"""Extractive answer composition: quote the sentences that answer, cite each one.

Nothing here writes a claim. The answer is made of sentences copied from the articles
(whitespace collapsed), each followed by its citation marker; the only added words are
fixed lead-ins that say where the text comes from ("The articles also mention:").

Steps: candidate sentences from the retrieved chunks → relevance from the stored
sentence vectors, word overlap and the chunk's own score → drop chatter, questions and
self-promotion → pull in the previous sentence when a sentence leans on it ("This helps
...") → MMR to keep it diverse and drop near-duplicates across articles → lead sentence,
then a short list when the question asks for causes, exercises or steps.
"""

from __future__ import annotations

import math
from collections import Counter
import re
from dataclasses import dataclass

import numpy as np
from wordfreq import zipf_frequency

from index import lexical
from index.artifact import IndexArtifact
from index.chunking import Sentence, collapse
from service.retrieval import Query, ScoredChunk

# "It", not "IT" (IT Band Syndrome names its subject). A step with no subject ("Hold for 8-10
# breaths") belongs to the exercise before it: quoted alone it could be any stretch's.
_ANAPHORIC = re.compile(
    r"^((?i:this|these|they|that|those|such|also|additionally|furthermore|however|like|specifically|thankfully|then|"
    r"essentially|basically|as a result|therefore|thus|in other words|for this reason|because of this|otherwise|instead)|"
    r"It|it|Hold|Repeat|Switch)\b"
)
# Sentences that sell rather than inform; they answer nothing a runner asks. ("No referral, no
# problem!" does answer one: three blind writers asked whether a physio needs a GP's referral.)
_PROMOTION = re.compile(
    r"\b(we offer|reach out to us|contact us|our (clinic|team|staff|physical therapists)|we have .* on staff|"
    r"happy running|click|subscribe|see the image)\b",
    re.IGNORECASE,
)
# A question that states something ("Did you know you have Direct Access to Physical Therapy?").
_RHETORICAL = re.compile(r"^(did you know|do you know|are you aware)\b", re.IGNORECASE)
# Signposts point at content instead of stating it ("Let's dive in", "Here are some tips:",
# "You'll learn not just what causes the ache…", "In conclusion, understanding… is crucial").
_SIGNPOST = re.compile(
    r"^(let[’']s|now,? time to|here are|here[’']s|in this (short )?guide|this article|to learn more|keep reading|"
    r"read on|before we get into|ready to|glad you asked|absolutely!|so,? what|whether you want|in conclusion|"
    r"(by )?understanding (why|the causes))|"
    r"\b(take a look at|keep reading|as pictured|we[’']ll be delving|you[’']ll learn)\b",
    re.IGNORECASE,
)
# A named step or item: "Figure Four Stretch: Lie on your back…", "- Bridges: Lie on…".
_LABELLED = re.compile(r"^[-•*]?\s*[A-Z][^:.!?\n]{1,40}:\s")
_LIST_INTENT = re.compile(
    r"\b(causes?|caus\w*|why|y(?= (do|does|is|are|am|would|did|dose)\b)|reasons?|exercises?|stretch\w*|strengthen\w*|tips?|steps?|ways?|treat\w*|symptoms?|signs?|"
    r"prevent\w*|what (can|should) i do|how (do|can|should) i|how to|options?|help\w*|relie\w*|get rid|"
    # "hips wrecked after every long run, wtf is going on": asks why
    r"(what|wtf|wth).?s? (is )?(going on|happening|up with)|what gives)\b",
    re.IGNORECASE,
)


EVERYDAY_ZIPF = 5.0  # wordfreq: the ~1,500 commonest English words ("sort", "kind", "worth")
MAX_LEAN = 2  # sentences a quote may reach back for a referent
MAX_ITEM_LEAN = 4  # ... and for the name of the labelled item it belongs to


@dataclass(frozen=True)
class ComposeParams:
    chunks: int = 30  # retrieved chunks whose sentences are candidates
    sentence_weight: float = 0.8  # 0.6 before the encoder adapter: its cosines say more (EXPERIMENTS.md §9)
    overlap_weight: float = 0.35
    chunk_weight: float = 0.6
    rare_bonus: float = 0.05
    rare_idf: float = 4.5  # IDF over the 316 sentences: a word in at most ~3 of them
    own_words_weight: float = 2.0  # a follow-up's own words vs the earlier turns' words
    topic_idf: float = 3.0  # a word this rare (IDF over sentences) names a subject
    # A section's subject, named in its heading or earlier sentences, counts for the
    # sentences after it at this share: "Rest up ... apply ice" answers "treat tendonitis?"
    # three sentences after the one that says "tendonitis".
    subject_weight: float = 0.5
    mmr_lambda: float = 0.75
    duplicate_cosine: float = 0.88
    relative_floor: float = 0.6  # keep units scoring at least this share of the best one
    follow_on_floor: float = 0.4  # a sentence right after the lead joins it above this share of the best
    lead_words: int = 70
    point_words: int = 45  # a listed point may run on within its paragraph up to this
    total_words: int = 180  # what running on may bring the whole answer to
    max_units: int = 6
    max_words: int = 140
    min_words: int = 4


@dataclass(frozen=True)
class Quote:
    doc_id: str
    section: str
    start: int
    end: int
    text: str  # whitespace-collapsed original text[start:end]


@dataclass(frozen=True)
class Composition:
    lead: Quote | None
    points: list[Quote]
    as_list: bool
    relevance: float  # best unit's relevance (for abstention)

    @property
    def quotes(self) -> list[Quote]:
        return ([self.lead] if self.lead else []) + self.points


@dataclass(slots=True)
class _Unit:
    first: int  # sentence ids, inclusive
    last: int
    relevance: float
    words: int


class Composer:
    def __init__(self, artifact: IndexArtifact, params: ComposeParams | None = None) -> None:
        self.artifact = artifact
        self.params = params or ComposeParams()
        n = len(artifact.sentences)
        frequency = Counter(token for tokens in artifact.sentence_tokens for token in tokens)  # sentences holding each token
        self._idf = {token: math.log(1 + (n - df + 0.5) / (df + 0.5)) for token, df in frequency.items()}
        self._unseen_idf = math.log(1 + (n + 0.5) / 0.5)
        # Per-sentence facts that never change: decided once here, not on every request.
        self._can_quote = [self._quotable(s) for s in artifact.sentences]
        # A sentence starts a paragraph: the first of its section, or after a line break.
        sentences, texts = artifact.sentences, artifact.documents
        self._starts_paragraph = [
            sid == 0 or (s.doc_id, s.section) != (sentences[sid - 1].doc_id, sentences[sid - 1].section) or "\n" in texts[s.doc_id].text[sentences[sid - 1].end : s.start]
            for sid, s in enumerate(sentences)
        ]
        self._leans = [self._leans_back(i) for i in range(n)]
        # Where a quote of each sentence must start so that "it"/"this" has its referent:
        # "This can lead to pain" needs "It happens when the piriformis muscle…", which needs
        # "Piriformis syndrome is a common cause…".
        self._opening = list(range(n))
        for sid in range(n):
            if self._leans[sid]:
                self._opening[sid] = self._opening[sid - 1] if sid - self._opening[sid - 1] <= MAX_LEAN else sid - 1
        # Every sentence of a labelled item's paragraph belongs to the item: "Keeping your
        # abdominals tight, do three sets of 10 reps" is the Single-Leg Knee Lift's, three
        # sentences after its name, and quoted alone it reads as any exercise's reps.
        for sid, label in self._item_labels().items():
            if sid - label <= MAX_ITEM_LEAN:
                self._opening[sid] = min(self._opening[sid], label)
        self._opening = np.array(self._opening)
        self._words = [len(sentence.text.split()) for sentence in artifact.sentences]
        self._unit_words = np.array([sum(self._words[self._opening[sid] : sid + 1]) for sid in range(n)])
        self._quotable_ids = np.flatnonzero(self._can_quote)
        # The (one or two, as chunks overlap) chunks holding each sentence.
        holding: list[list[int]] = [[] for _ in range(n)]
        for index, chunk in enumerate(artifact.chunks):
            for sid in chunk.sentence_ids:
                holding[sid].append(index)
        width = max(map(len, holding))
        self._chunks_holding = np.array([h + h[-1:] * (width - len(h)) for h in holding])
        self._word_matrices()
        self._rare_words = frozenset(t for t in self._columns if self.idf(t) >= self.params.rare_idf and zipf_frequency(t, "en") < EVERYDAY_ZIPF)
        self._lists = self._labelled_lists()

    def compose(self, query: Query, hits: list[ScoredChunk]) -> Composition:
        units = self._candidates(query, hits)
        if not units:
            return Composition(None, [], False, 0.0)
        chosen = self._lead_on_topic(self._select(units), query)
        wants_list = bool(_LIST_INTENT.search(query.text))
        if wants_list:
            chosen = self._complete_list(chosen, units)
        total = sum(unit.words for unit in chosen)
        relevance = {u.last: u.relevance for u in units}
        for i, unit in enumerate(chosen):
            others = chosen[:i] + chosen[i + 1 :]
            room = self.params.total_words - total + unit.words
            limit = min(self.params.lead_words if i == 0 else self.params.point_words, room)
            chosen[i] = self._extend(unit, relevance, units[0].relevance, others, limit, within_line=i > 0)
            total += chosen[i].words - unit.words
        quotes = [self._quote(unit) for unit in chosen]
        as_list = wants_list and len(quotes) >= 3
        return Composition(quotes[0], quotes[1:], as_list, units[0].relevance)

    def _candidates(self, query: Query, hits: list[ScoredChunk]) -> list[_Unit]:
        p = self.params
        retrieved = np.full(len(self.artifact.chunks), -np.inf)
        retrieved[[hit.index for hit in hits[: p.chunks]]] = [hit.score for hit in hits[: p.chunks]]
        chunk_score = retrieved[self._chunks_holding].max(axis=1)  # a sentence in two chunks keeps the higher score
        ids = self._quotable_ids[chunk_score[self._quotable_ids] > -np.inf]
        if not len(ids):
            return []
        # The follow-up's own words count double: "what about foot strike?" is about foot
        # strike, with the earlier turns as background.
        weight = {t: self.idf(t) for t in map(_same, query.context_tokens)}
        weight.update({t: p.own_words_weight * self.idf(t) for t in map(_same, query.tokens)})
        wanted_weight = sum(weight.values()) or 1.0
        known = [(self._columns[t], w) for t, w in weight.items() if t in self._columns]
        cosines = (self.artifact.sentence_vectors[ids] @ query.vector).astype(np.float64)
        relevance = p.sentence_weight * cosines + p.chunk_weight * chunk_score[ids]
        if known:
            columns, weights = np.array([c for c, _ in known]), np.array([w for _, w in known])
            own = weights @ self._quotes_holding[columns][:, ids]
            implied = weights @ self._subjects_holding[columns][:, ids]
            relevance += p.overlap_weight * (own + p.subject_weight * implied) / wanted_weight
        # A word of the question that only a sentence or two of the articles use names what
        # it asks about ("treatment modalities", "bursae"): those sentences answer it, however
        # many common words another sentence shares with the question. (Everyday words the
        # articles happen to use once, "some sort of", name nothing.)
        rare = [self._columns[t] for t in map(_same, query.tokens) if t in self._rare_words]
        if rare and p.rare_bonus:
            relevance += p.rare_bonus * self._quotes_holding[rare][:, ids].max(axis=0)
        # Only units that could still be chosen or joined to a quote; the rest count as 0.
        keep = relevance >= min(p.relative_floor, p.follow_on_floor) * relevance.max()
        ids, relevance = ids[keep], relevance[keep]
        first = self._opening[ids]
        order = np.lexsort((first, -relevance))
        return list(map(_Unit, first[order].tolist(), ids[order].tolist(), relevance[order].tolist(), self._unit_words[ids[order]].tolist()))

    def _word_matrices(self) -> None:
        """Which words each quote holds, and which its section's subject adds, as 0/1
        matrices over the articles' words: a question's overlap with every candidate is then
        two small matrix products instead of set arithmetic per sentence."""
        tokens = [{_same(t) for t in ts} for ts in self.artifact.sentence_tokens]
        unit_tokens = [frozenset().union(*tokens[self._opening[sid] : sid + 1]) for sid in range(len(tokens))]
        subjects = [frozenset(map(_same, subject)) for subject in self._section_subjects()]
        self._columns = {t: i for i, t in enumerate(sorted(frozenset().union(*unit_tokens, *subjects)))}
        # One row per word: a question's few words are a few contiguous rows.
        self._quotes_holding = np.zeros((len(self._columns), len(tokens)), dtype=np.float32)
        self._subjects_holding = np.zeros_like(self._quotes_holding)
        for sid, (own, subject) in enumerate(zip(unit_tokens, subjects)):
            self._quotes_holding[[self._columns[t] for t in own], sid] = 1.0
            self._subjects_holding[[self._columns[t] for t in subject - own], sid] = 1.0

    def _quotable(self, sentence: Sentence) -> bool:
        text = sentence.text.strip()
        if _PROMOTION.search(text) or _SIGNPOST.search(text):
            return False
        if sentence.kind == "list":
            return True
        # Questions and bare lead-ins ("Treatments for hip pain include:") answer nothing alone.
        asks = text.endswith("?") and not _RHETORICAL.match(text)
        return not asks and not text.endswith(":") and len(text.split()) >= self.params.min_words

    def _section_subjects(self) -> list[frozenset[str]]:
        """Per sentence, the rare words its section's heading and earlier sentences named."""
        sentences = self.artifact.sentences
        headings = lexical.tokens([s.section for s in sentences])
        subjects: list[frozenset[str]] = []
        named: set[str] = set()
        for sid, sentence in enumerate(sentences):
            if sid == 0 or (sentence.doc_id, sentence.section) != (sentences[sid - 1].doc_id, sentences[sid - 1].section):
                named = {t for t in headings[sid] if self.idf(t) >= self.params.topic_idf}
            subjects.append(frozenset(named))
            named |= {t for t in self.artifact.sentence_tokens[sid] if self.idf(t) >= self.params.topic_idf}
        return subjects

    def _item_labels(self) -> dict[int, int]:
        """For each later sentence in the paragraph of a labelled item ("Figure Four Stretch:
        Lie on your back… Pull the uncrossed leg…"), the id of the item's first sentence."""
        labels: dict[int, int] = {}
        for sid in range(1, len(self.artifact.sentences)):
            if self._starts_paragraph[sid] or _LABELLED.match(self.artifact.sentences[sid].text):
                continue
            label = labels.get(sid - 1, sid - 1 if _LABELLED.match(self.artifact.sentences[sid - 1].text) else None)
            if label is not None and self._can_quote[label]:
                labels[sid] = label
        return labels

    def _labelled_lists(self) -> dict[int, tuple[int, ...]]:
        """For the first sentence of each item of a labelled list ("- Clamshells: Lie on your
        side...", "- Bridges: ..."), all the items' first sentences, in article order: items
        that start paragraphs one after another in one section."""
        sentences = self.artifact.sentences
        lists: dict[int, tuple[int, ...]] = {}
        group: list[int] = []
        for sid, sentence in enumerate(sentences):
            if not self._starts_paragraph[sid]:
                continue  # an item's own run-on sentences
            previous = group[-1] if group else None
            same_section = previous is not None and (sentence.doc_id, sentence.section) == (sentences[previous].doc_id, sentences[previous].section)
            if _LABELLED.match(sentence.text) and same_section:
                group.append(sid)
                continue
            if len(group) > 1:
                lists.update({item: tuple(group) for item in group})
            group = [sid] if _LABELLED.match(sentence.text) else []
        if len(group) > 1:
            lists.update({item: tuple(group) for item in group})
        return lists

    def _complete_list(self, chosen: list[_Unit], units: list[_Unit]) -> list[_Unit]:
        """A question asking for exercises, steps or tips whose best answer is an item of a
        labelled list gets the whole list: "what running form changes help?" wants all of
        "Shorten Your Stride", "Lean Forward Slightly" and "Midfoot Strike", not the first
        and two unrelated lines. The best item stays first, the rest follow in article
        order, then the other points while words allow."""
        lead = chosen[0]
        if lead.first not in self._lists:
            return chosen
        items = [sid for sid in self._lists[lead.first] if sid != lead.first][: self.params.max_units - 1]
        relevance = {u.first: u.relevance for u in units}
        listed = [next((u for u in chosen if u.first == sid), None) or _Unit(sid, sid, relevance.get(sid, lead.relevance), self._words[sid]) for sid in items]
        others = [u for u in chosen[1:] if u.first not in items and not any(_overlaps(u, item) for item in listed)]
        result, words = [lead, *listed], lead.words + sum(u.words for u in listed)
        for unit in others:
            if words + unit.words <= self.params.max_words:
                result.append(unit)
                words += unit.words
        return result

    def _leans_back(self, sid: int) -> bool:
        """Does the sentence need the one before it for a referent ("This helps…", "Hold for
        8-10 breaths"), or answer the question it asked ("Did you know…? No referral, no
        problem!")? (The name of a labelled step it continues is `_item_labels`' job.)"""
        sentences = self.artifact.sentences
        if sid == 0:
            return False
        sentence, previous = sentences[sid], sentences[sid - 1]
        if previous.doc_id != sentence.doc_id or previous.section != sentence.section or not self._can_quote[sid - 1]:
            return False
        return bool(_ANAPHORIC.match(sentence.text) or _RHETORICAL.match(previous.text))

    def _select(self, units: list[_Unit]) -> list[_Unit]:
        """MMR over the units within `relative_floor` of the best. A unit that overlaps a
        chosen one, nearly repeats it (`duplicate_cosine`) or no longer fits the word budget
        can never be chosen later either, so it is masked out as soon as that happens."""
        p = self.params
        best = units[0].relevance
        pool = [u for u in units if u.relevance >= p.relative_floor * best]
        vectors = self.artifact.sentence_vectors[[u.last for u in pool]]
        relevance = np.array([u.relevance for u in pool])
        firsts, lasts = np.array([u.first for u in pool]), np.array([u.last for u in pool])
        words = np.array([u.words for u in pool])
        closest = np.zeros(len(pool))  # similarity to the nearest chosen unit
        allowed = np.ones(len(pool), dtype=bool)
        chosen: list[int] = []
        total = 0
        while len(chosen) < p.max_units:
            score = np.where(allowed, p.mmr_lambda * relevance - (1 - p.mmr_lambda) * closest, -np.inf)
            i = int(np.argmax(score))
            if not allowed[i]:
                break
            chosen.append(i)
            total += int(words[i])
            closest = np.maximum(closest, vectors @ vectors[i])
            allowed &= ~((firsts <= lasts[i]) & (lasts >= firsts[i])) & (closest < p.duplicate_cosine) & (words <= p.max_words - total)
        return [pool[i] for i in chosen]

    def _lead_on_topic(self, chosen: list[_Unit], query: Query) -> list[_Unit]:
        """A follow-up's answer leads with a sentence that names the earlier turns' subject.

        "how's it treated?" after "can running give you hip bursitis?" should open on bursitis,
        not on "Treating hip pain from running can be a tricky beast", which wins on the word
        "treat". Only the order of the chosen sentences changes, never which are chosen.
        """
        topic = {t for t in query.context_tokens if self.idf(t) >= self.params.topic_idf} - set(query.tokens)
        # "you mentioned modalities, what are those?" names a subject of its own, rarer than
        # anything the earlier turns named: then it is the subject.
        # (Words no article uses, such as "supposed", name nothing we could lead with.)
        if not topic or max((self._idf.get(t, 0.0) for t in query.tokens), default=0.0) >= max(map(self.idf, topic)):
            return chosen
        tokens = self.artifact.sentence_tokens
        names = [bool(topic & (tokens[u.first] | tokens[u.last])) for u in chosen]
        if names[0] or not any(names):
            return chosen
        first = names.index(True)
        return [chosen[first], *chosen[:first], *chosen[first + 1 :]]

    def _extend(self, lead: _Unit, relevance: dict[int, float], best: float, others: list[_Unit], max_words: int, within_line: bool) -> _Unit:
        """Let a quote run on into the next sentences of its paragraph when they are relevant:
        the specifics ("for 15-20 minutes several times a day", "Inhale for three steps and
        exhale for two") often follow the topic sentence."""
        p = self.params
        sentences = self.artifact.sentences
        floor = p.follow_on_floor * best
        last, words = lead.last, lead.words
        while len(sentences) > last + 1:
            nxt = sentences[last + 1]
            if nxt.doc_id != sentences[last].doc_id or nxt.section != sentences[last].section:
                break
            if within_line and self._starts_paragraph[last + 1]:
                break
            if any(o.first <= last + 1 <= o.last for o in others) or not self._can_quote[last + 1]:
                break
            if relevance.get(last + 1, 0.0) < floor and not _ANAPHORIC.match(nxt.text):
                break
            if words + self._words[last + 1] > max_words:
                break
            last, words = last + 1, words + self._words[last + 1]
        if last == lead.last:
            return lead
        return _Unit(lead.first, last, lead.relevance, words)

    def idf(self, token: str) -> float:
        return self._idf.get(token, self._unseen_idf)

    def _quote(self, unit: _Unit) -> Quote:
        first, last = self.artifact.sentences[unit.first], self.artifact.sentences[unit.last]
        text = self.artifact.documents[first.doc_id].text[first.start : last.end]
        return Quote(first.doc_id, first.section, first.start, last.end, collapse(text))


# Stems that say "pain" in other words. Word overlap counts them as "pain": the articles
# seldom write "hurts", so its rarity (IDF) would make "why do my hips hurt?" favour the few
# sentences that say "hurts" ("Regardless of why your hip hurts…") over those naming causes.
_PAIN_WORDS = frozenset(("hurt", "ach", "achi", "sore", "discomfort"))


def _same(token: str) -> str:
    return "pain" if token in _PAIN_WORDS else token


def _overlaps(a: _Unit, b: _Unit) -> bool:
    return a.first <= b.last and b.first <= a.last


