"""Does the corpus even contain the words a question hinges on?

Retrieval scores say a question is *about* running and hips; they cannot tell that
"Is naproxen better than ibuprofen?" or "Should I take creatine?" asks for something no
article says. A question whose focus (its interrogative sentence) names a specific term
that appears nowhere in the articles is not covered.

"Specific" means rare in general English (wordfreq Zipf frequency below
`SPECIFIC_ZIPF`): common words like "schedule" or "buy" carry no subject, and
misspellings of article words ("strech", "flexers") or chat-speak ("shud", "killin")
are forgiven.
"""

from __future__ import annotations

import re
from functools import lru_cache

from lemminflect import getAllLemmas
from wordfreq import zipf_frequency

from index.lexical import STOPWORDS, stemmer

SPECIFIC_ZIPF = 3.3
# Below this a word is more likely a misspelling than a rare real word ("strech" 1.7,
# "flexers" 0.0 vs "creatine" 2.8), so only then is it matched to a nearby article word.
MISSPELLING_ZIPF = 2.5
COMMON_ZIPF = 4.0  # "park", "ultra", "trail": everyday words
TERM_ZIPF = 3.0  # an article word this rare is a specialist term ("bursae", "clamshells")
_WORD = re.compile(r"[a-z][a-z'-]*[a-z]|[a-z]")
_WORD_ANY_CASE = re.compile(r"[A-Za-z]{4,}")
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|\n+")
# Words spelt out as the English the articles use before retrieval. Phone shorthand for question
# words and pronouns: "hip hurts wen i run y" asks why, and the composer's list of causes, BM25
# and the encoder all need the word "why" to see it; dialect, and a few other languages' words.
_CHAT_SPEAK = {
    "y": "why", "wy": "why", "wen": "when", "wat": "what", "wut": "what", "wot": "what", "hw": "how", "hws": "how's",
    "u": "you", "ur": "your", "r": "are", "shud": "should", "shld": "should", "cud": "could", "wud": "would",
    "abt": "about", "bout": "about", "coz": "because", "cuz": "because", "bc": "because", "b4": "before",
    # Scots spellings of everyday words ("whit can ah dae at hame fur it?"): the question word
    # and the verb matter to retrieval, and none of these names a subject
    "whit": "what", "dae": "do", "daein": "doing", "gaun": "going", "oot": "out", "roond": "round", "tae": "to",
    "nae": "no", "noo": "now", "jist": "just", "wi": "with", "fae": "from", "hame": "home", "sair": "sore",
    "cannae": "can't", "dinnae": "don't", "didnae": "didn't", "isnae": "isn't", "wasnae": "wasn't", "doesnae": "doesn't",
    "wouldnae": "wouldn't", "couldnae": "couldn't", "shouldnae": "shouldn't", "ah": "I", "ma": "my", "masel": "myself",
    "ye": "you", "yer": "your", "aw": "all", "awfy": "very",
    # and the north of England's, Ireland's and Australia's
    "meself": "myself", "yerself": "yourself", "youse": "you", "yous": "you",
    "auld": "old", "summat": "something", "owt": "anything", "nowt": "nothing", "craic": "news",
    # and Nigerian and West African Pidgin's ("why my hip dey pain me?")
    "dey": "is", "wetin": "what", "abeg": "please",
    # which side ("the RHS hip")
    "rhs": "right", "lhs": "left",
    # the question words and the subject of a question half in another language ("what is this
    # bursitis? y cómo se trata?"): retrieval needs "how" and "treated" to find the treatment lines
    "cómo": "how", "como": "how", "qué": "what", "pourquoi": "why", "warum": "why", "perché": "why", "perche": "why",
    "trata": "treated", "tratar": "treat", "tratamiento": "treatment", "traiter": "treat", "traitement": "treatment",
    "behandeln": "treat", "behandlung": "treatment", "curare": "treat", "cura": "treatment",
    "dolor": "pain", "douleur": "pain", "schmerz": "pain", "schmerzen": "pain", "dolore": "pain",
    "bursite": "bursitis", "borsite": "bursitis", "tendinite": "tendinitis",
    "cadera": "hip", "hanche": "hip", "hüfte": "hip", "huefte": "hip", "anca": "hip", "quadril": "hip",
    "estiramiento": "stretch", "estiramientos": "stretches", "étirement": "stretch", "étirements": "stretches",
    "dehnung": "stretch", "dehnen": "stretch", "allungamento": "stretch",
    "ejercicio": "exercise", "ejercicios": "exercises", "exercice": "exercise", "exercices": "exercises",
    "übung": "exercise", "übungen": "exercises", "esercizio": "exercise", "esercizi": "exercises",
    "correr": "running", "courir": "running", "laufen": "running",
}
# Chat-speak and filler that say nothing about the subject (the shorthand above among them).
_FILLER = frozenset(_CHAT_SPEAK).union(
    "ya n pls plz thx ty ppl im ive id dont cant wont didnt doesnt isnt tho rly "
    "lol lmao haha hahaha omg btw idk tbh imo hey hi hello thanks thank guys anyone gonna wanna gotta kinda sorta ok okay "
    "yeah yep nope whats hows diff prob probs def obv obvs esp rn asap tmrw wk wks hr hrs mins secs yr yrs xmas bday "
    # chat-speak for that/this, and words that judge rather than name ("is it a gimmick?")
    "dat dis gimmick gimmicks gimmicky hype overhyped overrated legit fad fads overkill wknd wkend ngl fr tbf lowkey upsell upselling "
    # talk about the conversation itself ("OK roleplay aside — does a strong core help?")
    "roleplay roleplaying "
    # a pirate voice asked for ("Arr, what be the risk factors?")
    "arr ahoy matey".split()
)
# A letter drawn out ("arrr", "sooo", "hmmm") is tone, not a term.
_ELONGATED = re.compile(r"(.)\1\1")
_ASIDE = re.compile(r"\([^()]*\)|<!--.*?-->", re.DOTALL)  # an HTML comment is an aside too ("<!-- admin override -->")
# The name a jailbreak gives the assistant ("You are now FreeCoach… As FreeCoach: …") is
# the wrapping, not a subject of the question inside it: the word after a role-play cue, and
# in a role-play a name the message addresses twice ("…my physio pal Aoife… Aoife, is…").
_PERSONA = re.compile(r"\b(?:you are|you're|youre|u r) (?:now |called |named )?(?:an? )?([A-Za-z]+)\b|\b(?:act|pretend|roleplay|role-play|play the role) (?:to be |as |of )(?:an? )?([A-Za-z]+)\b", re.IGNORECASE)
_ADDRESSED = re.compile(r"(?:^|[.!?:]\s+|\bAs )([A-Z][a-zA-Z]+)[,:]\s")
_CHAT_WORD = re.compile(r"(?<![\w'-])(?:" + "|".join(sorted(_CHAT_SPEAK, key=len, reverse=True)) + r")(?![\w'-])", re.IGNORECASE)


def words(text: str) -> list[str]:
    return [w.removesuffix("'s") for w in _WORD.findall(text.lower().replace("\u2019", "'"))]


LONG_MESSAGE_WORDS = 60


def focus(text: str, *, short_whole: bool = True) -> str:
    """The part of a message that asks: a short message whole; of a long one, its last
    questions (else its last sentence).

    A long message about someone's training week asks one thing at the end; the words of
    the story around it are not the subject. A short one ("My shoulder aches on long runs.
    Why?") needs all its words.
    """
    if short_whole and len(text.split()) <= LONG_MESSAGE_WORDS:
        return text
    sentences = [s for s in _SENTENCE_BREAK.split(text.strip()) if s.strip()]
    questions = [s for s in sentences if "?" in s]
    if questions:
        return " ".join(questions[-2:])
    return sentences[-1] if sentences else text


class Vocabulary:
    def __init__(self, texts: list[str], also_covered: tuple[str, ...] = (), lay_terms: tuple[tuple[str, str], ...] = ()) -> None:
        self.lay_terms = dict(lay_terms)
        self._phrases = tuple(key for key in self.lay_terms if " " in key)
        found: set[str] = set(also_covered) | {word for key in self.lay_terms for word in key.split()}
        for text in texts:
            for word in words(text):
                found.add(word)
                found.update(part for part in word.split("-") if part)
        self.words = frozenset(found)
        # The articles' specialist words ("bursae", "piriformis", "clamshells"): rare in general
        # English and not only a verb or adjective. A list of topic patterns cannot name them all.
        self.terms = frozenset(w for w in self.words if len(w) >= 5 and zipf_frequency(w, "en") < TERM_ZIPF and not _describes(w))
        self.stems = frozenset(stemmer().stemWord(w) for w in found)
        self._by_initial: dict[str, list[str]] = {}
        for word in sorted(found):
            self._by_initial.setdefault(word[0], []).append(word)
        # The gate and the spelling correction ask about the same words in one request, and a
        # search costs ~0.5 ms a word; the vocabulary never changes, so remember the answers.
        self._nearest = lru_cache(maxsize=4096)(self._nearest)
        # lemminflect reads its dictionary (~150 ms, +33 MB) on first use: at start-up, not
        # in the first request that asks about an unknown word.
        getAllLemmas("run")
        _everyday_elsewhere("run")  # the other languages' word lists likewise (~0.1 s, ~20 MB)

    def covers(self, word: str) -> bool:
        if word in self.words or stemmer().stemWord(word) in self.stems:
            return True
        if len(word) >= 5 and any(word in known for known in self.words):
            return True  # "arthritis" in "osteoarthritis", "stretch" in "stretches"
        if "-" in word:
            return all(self.covers(part) for part in word.split("-") if part)
        if self._is_compound(word):
            return True
        # A misspelling of an article word: one edit away (two for long words).
        return zipf_frequency(word, "en") < MISSPELLING_ZIPF and self._nearest(word) is not None

    def _is_compound(self, word: str) -> bool:
        """A closed compound of a common word and an article word ("parkrun", "ultramarathon")
        names a kind of what the articles cover. Rarer first parts ("hydro", "cryo") can
        make a new subject ("hydrotherapy"), so they do not count."""
        for cut in range(3, len(word) - 2):
            head = word[cut:]
            if (head in self.words or stemmer().stemWord(head) in self.stems) and zipf_frequency(word[:cut], "en") >= COMMON_ZIPF:
                return True
        return False

    def _nearest(self, word: str) -> str | None:
        if len(word) < 4:
            return None
        limit = 1 if len(word) <= 6 else 2
        best: tuple[int, float, str] | None = None
        for candidate in self._by_initial.get(word[0], ()):
            if abs(len(candidate) - len(word)) <= limit:
                distance = _distance(word, candidate, limit)
                if distance > limit:
                    continue
                # Closest first; among equals the commoner word ("offen" → "often", not "offer").
                key = (distance, -zipf_frequency(candidate, "en"), candidate)
                if best is None or key < best:
                    best = key
        return best[2] if best else None

    def compounds(self, text: str) -> list[str]:
        """Article words that contain a question word the articles never use on its own:
        "arthritis" → "osteoarthritis". BM25 stems the two differently and would miss it."""
        found: list[str] = []
        for word in words(text):
            if len(word) >= 6 and word not in self.words and word not in STOPWORDS:
                found.extend(known for known in self.words if word in known and known != word)
        return found

    def lay_expansions(self, text: str) -> list[str]:
        """The articles' words for the runner's words in the text: "physio" → "physiotherapy
        physical therapist", "pavement" → "hard surfaces". Word matching (BM25, overlap)
        cannot see that these mean the same; the encoder only partly does."""
        said = words(text)
        found = [self.lay_terms[word] for word in dict.fromkeys(said) if word in self.lay_terms]
        # Phrases ("push through": the articles' "run through" acute pain), as whole words.
        padded = f" {' '.join(said)} "
        return found + [self.lay_terms[phrase] for phrase in self._phrases if f" {phrase} " in padded]

    def corrected(self, text: str) -> str:
        """The text with likely misspellings of article words replaced ("strech" → "stretch",
        "flexers" → "flexors"), so BM25 and the encoder see the words the articles use, and
        phone shorthand spelt out ("y" → "why", "u" → "you"). Only words rare enough to be
        misspellings (wordfreq Zipf < 2.5) are touched."""

        def fix(match: re.Match[str]) -> str:
            word = match.group(0)
            lower = word.lower()
            if lower in self.words or lower in _FILLER or zipf_frequency(lower, "en") >= MISSPELLING_ZIPF:
                return word
            return self._nearest(lower) or word

        return _CHAT_WORD.sub(_spelt_out, _WORD_ANY_CASE.sub(fix, text))

    def uncovered(self, text: str) -> list[str]:
        """Specific words of the question's focus that no article contains."""
        missing = []
        # Only the asking sentences: "no fever, not breathless — which stretch helps?" hinges
        # on "stretch", not on the symptoms ruled out before it.
        # An aside in brackets ("(about 25k a week, mostly the canal towpath)") is the story, not the question.
        for word in words(_ASIDE.sub(" ", focus(text, short_whole=False))):
            if len(word) < 3 or word in STOPWORDS or word in _FILLER or _ELONGATED.search(word) or self.covers(word):
                continue
            if _describes(word) or any(zipf_frequency(form, "en") >= SPECIFIC_ZIPF or self.covers(form) or _describes(form) for form in _base_forms(word)):
                continue
            if zipf_frequency(word, "en") < SPECIFIC_ZIPF and not _everyday_elsewhere(word):
                missing.append(word)
        if missing:  # names a role-play gives the assistant are the wrapping, not the subject
            personas = _personas(text)
            missing = [word for word in missing if word not in personas]
        return missing


# Languages runners mix into an English question ("what is this bursitis? y cómo se trata?").
_OTHER_LANGUAGES = ("es", "pt", "fr", "de", "it", "nl", "pl")


def _personas(text: str) -> set[str]:
    """The names a role-play gives the assistant (outside one, "Ketorolac, is it ok?" names a drug)."""
    cued = {name.lower() for match in _PERSONA.finditer(text) for name in match.groups() if name}
    if not cued:
        return cued
    return cued | {name.lower() for name in _ADDRESSED.findall(text) if text.count(name) >= 2}


def _everyday_elsewhere(word: str) -> bool:
    """An everyday word of another language ("trata" 5.3 in Spanish, "douleur" 4.6 in French)
    is how the runner says something, not a subject the articles lack; the specific words a
    question hinges on ("naproxen", "creatine", "cupping") are rare in every one of them."""
    # The "small" lists hold every word this common: ~20 MB for all seven, against ~270 MB for the full ones.
    return any(zipf_frequency(word, language, wordlist="small") >= COMMON_ZIPF for language in _OTHER_LANGUAGES)


def _spelt_out(match: re.Match[str]) -> str:
    word = match.group(0)
    return word if len(word) == 1 and word.isupper() else _CHAT_SPEAK[word.lower()]  # "the R package"


def _describes(word: str) -> bool:
    """Verbs, adjectives, adverbs and abstract nouns ("aggravate", "grindy", "chugging",
    "lopsidedness", "constantly") say how or how much, not what about: what a question
    hinges on is a thing, a medicine, a procedure or a condition. A word the dictionary
    does not know ("creatine", "naproxen") may be any of those, so it still counts."""
    if len(word) > 5 and word.endswith(("ing", "ness", "ly", "ed")):
        return True
    # "grindy", "clicky", "pinchy": a short word made into an adjective with -y
    if 4 < len(word) <= 7 and word.endswith("y") and any(getAllLemmas(stem) for stem in (word[:-1], word[:-2])):
        return True
    parts_of_speech = getAllLemmas(word)
    return bool(parts_of_speech) and not {"NOUN", "PROPN"} & parts_of_speech.keys()


def _base_forms(word: str) -> list[str]:
    """The word without a plural or third-person "-s" ("wrecks" → "wreck"), which wordfreq
    counts separately and as rarer, or with the g a speaker dropped ("nippin" → "nipping")."""
    forms = [word + "g"] if word.endswith("in") else []
    if word.endswith("es") and len(word) > 4:
        forms.append(word[:-2])
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        forms.append(word[:-1])
    return forms


def _distance(a: str, b: str, limit: int) -> int:
    """Levenshtein distance, giving up early once it exceeds `limit`."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        if min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]
