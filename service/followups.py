"""Query understanding for follow-ups, without an LLM.

"how do I stretch it?" or "and if that doesn't help?" only make sense with the earlier
turns. A last message is treated as a follow-up when it leans on them: it opens with a
connective or pronoun ("and", "what about", "it", "that"), it names too little to
stand alone (at most two content words and a pronoun, or one content word), a short
question has a pronoun for its subject or ends in "too", or it points back at what was
said ("the modalities you mentioned"); or it is a short question after a turn that only
set the scene ("I strained my hip flexor on a sprint session." - "when can I run again?"); or it
names nothing the articles are about ("should I go somewhere to get properly fitted?"). Follow-ups
are retrieved with the earlier user turns carried in at a lower weight; self-contained
questions are left alone so a change of subject is not dragged back.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from index import lexical

_LEANING_START = re.compile(
    r"^\s*(and|but|also|so|then|ok(ay)?|what about|how about|what if|and if|if so|if not|"
    r"it|its|it's|that|this|those|these|they|them|same|which)\b",
    re.IGNORECASE,
)
_PRONOUN = re.compile(r"\b(it|its|it's|that|this|those|these|they|them|there)\b", re.IGNORECASE)
# "can it make my knee hurt as well?" is about the earlier subject: a pronoun as the subject
# of a question, or an added "too"/"as well". The impersonal "is it ok to..." is not.
_REFERS_BACK = re.compile(
    r"\b(can|could|does|do|did|will|would|is|are|was|were|should|might|may|has|have)\s+(it|that|this|they|those|these)\b"
    r"(?!\s+(be|ok|okay|normal|bad|safe|fine|possible|true|worth|wise|better|best|likely|common|usual)\b)"
    r"|\b(as well|too|also)\s*\??\s*$"
    # ...or its object at the end: "does foam rolling help with it?", "what exercises prevent that?"
    r"|\b(with|for|on|about|from|treat|fix|stretch|help|cure|prevent|ease|relieve|avoid|cause|causes|caused|worsen|aggravate)\s+(it|that|this|them|those|these)\s*\??\s*$",
    re.IGNORECASE,
)
# A message that points back at the conversation itself is a follow-up whatever else it
# names: "what are the modalities you mentioned?", "the one with the cartilage ring?".
_POINTS_BACK = re.compile(
    r"\b(you|u) (just )?(mentioned|said|listed|talked about|brought up|described|suggested|recommended|named)\b"
    r"|\b(mentioned|listed|said) (earlier|before|above|previously)\b"
    r"|\bthe (first|second|third|fourth|last|other|next) (one|thing|option|cause|exercise|stretch|tip|pose)s?\b"
    r"|\bthe ones? (you|with|about|that|where)\b"
    # "where should I go to get the right ones?": "ones" stands for a thing named before
    r"|\bones\b"
    # "how do I know when it's time to book one?": a thing named before
    r"|\b(book|see|get|try|buy|find|use|visit|need) (one|them|those|these)\b",
    re.IGNORECASE,
)
MAX_TURNS_CARRIED = 2
# A turn that asks nothing ("I strained my hip flexor on a sprint session.") is the situation
# a following question is asked in, when that question is too short to carry a subject of
# its own ("when can I start running again?"; "what causes IT band syndrome in runners?"
# asks about something new).
_QUESTION_START = re.compile(
    r"^\s*(what|why|how|when|where|which|who|whose|is|are|am|was|were|do|does|did|can|could|should|would|will|shall|may|might|has|have|any|tips|help)\b",
    re.IGNORECASE,
)
SCENE_WORDS = 3
# "No fever, no numbness, I didn't fall — just a sore outer hip": the ruled-out symptoms are
# not what to search for. A negation cue and the words after it, up to the next punctuation,
# are left out of the retrieval query ("not getting better" is kept: that is the question).
# ("without" + a verb states a goal, "run without hurting my hips", not a ruled-out sign)
# ("or not", "yes or no" ask for a verdict; they rule nothing out)
_NEGATION_CUE = r"(?<!\bor )\b(?:no|without(?! \w+ing\b)|zero|never had|didn'?t|did not|don'?t have|do not have|haven'?t(?: had)?|hasn'?t|doesn'?t|does not|isn'?t|not|ruled out|excluded)\b(?!-)"  # not a compound's first half ("zero-drop shoes", "no-brainer")
_RULED_OUT = re.compile(
    _NEGATION_CUE
    + r"(?!\s+(?:(?:been |really |yet |actually )?(?:getting|improv\w*|better|go(?:ne|ing)? away|help\w*|work\w*|heal\w*|settl\w*|eas\w*|chang\w*|shift\w*|stop\w*|fix\w*)|sure|only|just|much|really))"
    # up to the next punctuation or the next cue (each cue rules out its own words), on a word's edge
    + r"(?:(?!" + _NEGATION_CUE + r")[^,.;:!?()\n\u2013\u2014-]){0,40}\b"
    # ...and a symptom that is over: "the swelling went down ages ago", "my fever was last month and it's gone"
    r"|\b(?:the |my )?(?:swelling|fever|temperature|redness|numbness|tingling|bruising|rash)\b[^,.;:!?()\n]{0,20}?"
    r"\b(?:went down|gone down|has gone|is gone|went away|gone away|cleared(?: up)?|settled|was (?:last|a few|\d+|ages|months|weeks) ?\w*(?: ago)?)\b[^,.;:!?()\n]{0,20}",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ResolvedQuery:
    text: str  # the last user message, ruled-out symptoms left out
    context: str | None  # earlier user turns to carry over, or None


def without_ruled_out(message: str) -> str:
    stripped = " ".join(_RULED_OUT.sub(" ", message).split()).lstrip(",;:- ")
    return stripped if lexical.tokens([stripped])[0] else message


def is_follow_up(message: str) -> bool:
    if _POINTS_BACK.search(message):
        return True
    content = lexical.tokens([message])[0]
    if len(content) <= 1:
        return True
    if _LEANING_START.match(message) and len(content) <= 4:
        return True
    if len(content) <= 2 and _PRONOUN.search(message):
        return True
    return len(content) <= 6 and bool(_REFERS_BACK.search(message))


def _asked_in_the_scene(message: str, previous: str) -> bool:
    return "?" not in previous and not _QUESTION_START.match(previous) and len(lexical.tokens([message])[0]) <= SCENE_WORDS


def resolve(user_turns: list[str], names_subject: Callable[[str], bool] | None = None) -> ResolvedQuery:
    """The retrieval query for the last user turn, given all user turns in order.

    With `names_subject`, a question that names nothing the articles are about leans on
    the earlier turns too ("what shoes help my hips?" - "should I go somewhere to get
    properly fitted?"): it has no subject of its own to be self-contained about."""
    last = without_ruled_out(user_turns[-1])
    earlier = [turn for turn in user_turns[:-1] if turn.strip()]
    if not earlier or not (is_follow_up(last) or _asked_in_the_scene(last, earlier[-1]) or (names_subject is not None and not names_subject(last))):
        return ResolvedQuery(last, None)
    return ResolvedQuery(last, " ".join(without_ruled_out(turn) for turn in earlier[-MAX_TURNS_CARRIED:]))
