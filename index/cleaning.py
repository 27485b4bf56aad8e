"""Cleaning and sectioning: which lines of an article are content, and under which heading.

Nothing is rewritten. The output is a list of sections, each a heading plus content
blocks given as character offsets into the original text, so every later passage can be
quoted verbatim and located in the file.

Scraped articles carry page furniture (captions, bylines, comment threads). The rules
that recognise it are data (`BOILERPLATE`) so adding a publisher's quirk is one line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

# (pattern on the stripped line, what to drop)
#   line    - just that line
#   section - that line and everything up to the next heading
#   rest    - that line and everything after it (comment threads, reply forms)
BOILERPLATE: tuple[tuple[re.Pattern[str], Literal["line", "section", "rest"]], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), scope)
    for pattern, scope in (
        (r"^video of the day$", "line"),
        (r"^brought to you by\b", "line"),
        (r"^click on a link below", "line"),
        (r"^latest posts by\b", "line"),
        (r"^author bio\s*:", "line"),
        (r"^(written|posted|reviewed) by\b", "line"),
        (r"^your email address will not be published", "line"),
        (r"^required fields are marked", "line"),
        (r"^(share|tweet|pin it|print)( this( article| post)?)?$", "line"),
        (r"^about the author$", "section"),
        (r"^photo credits?$", "section"),
        (r"^(related|recommended) (articles|posts|reading)$", "section"),
        (r"^leave a (reply|comment)$", "rest"),
        (r"^\d+ (thoughts?|comments?|responses?|replies) on\b", "rest"),
    )
)

_BULLET = re.compile(r"^(?:[•·▪◦●*\-–]|\d{1,2}[.)])\s+")
_NUMBERED = re.compile(r"^\d{1,2}[.)]\s+")
_MD_HEADING = re.compile(r"^#{1,6}\s+")
# A parenthesis is not here on purpose: "Garland Pose (Malasana)" is a heading.
_SENTENCE_END = (".", ":", ";", ",", "!", "…", '"', "”", "’", "'")
HEADING_MAX_WORDS = 14


@dataclass(frozen=True)
class Line:
    start: int  # offset of the first content character (after any bullet marker)
    end: int
    text: str  # the stripped line, marker included
    indented: bool
    is_item: bool

    @property
    def content(self) -> str:
        return _BULLET.sub("", self.text, count=1) if self.is_item else self.text


@dataclass(frozen=True)
class Block:
    kind: Literal["para", "item"]
    start: int
    end: int


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)


def split_lines(text: str) -> list[Line]:
    lines: list[Line] = []
    pos = 0
    for raw in text.splitlines(keepends=True):
        stripped = raw.strip()
        if stripped:
            lead = len(raw) - len(raw.lstrip())
            start = pos + lead
            is_item = bool(_BULLET.match(stripped)) and not _is_faq_question(stripped, indented=lead > 0)
            if is_item:
                start += _BULLET.match(stripped).end()  # type: ignore[union-attr]
            lines.append(Line(start=start, end=pos + lead + len(stripped), text=stripped, indented=lead > 0, is_item=is_item))
        pos += len(raw)
    return lines


def _is_faq_question(stripped: str, *, indented: bool) -> bool:
    # "1. Why do my hips hurt when I run?" at the left margin is an FAQ heading, not a list item.
    return not indented and bool(_NUMBERED.match(stripped)) and stripped.endswith("?") and len(stripped.split()) <= HEADING_MAX_WORDS


def looks_like_heading(line: Line) -> bool:
    if _MD_HEADING.match(line.text):
        return True
    if line.is_item:
        return False
    words = line.text.split()
    if not words or len(words) > HEADING_MAX_WORDS or not re.search(r"[A-Za-z]", line.text):
        return False
    return not line.text.endswith(_SENTENCE_END)


def heading_title(line: Line) -> str:
    text = _MD_HEADING.sub("", line.text)
    return _NUMBERED.sub("", text).strip()


def _boilerplate_scope(text: str, authors: tuple[str, ...]) -> str | None:
    if any(text.casefold() == author.casefold() for author in authors if author):
        return "line"  # a bare byline
    for pattern, scope in BOILERPLATE:
        if pattern.search(text):
            return scope
    return None


def sectionize(text: str, *, title: str = "", authors: tuple[str, ...] = ()) -> list[Section]:
    """Content blocks of an article grouped under their headings.

    The first line is the article's headline: content before the first heading is filed
    under it. A heading-like line directly followed by another heading-like line is an
    image caption (e.g. "Stretching hip pain"), as is a heading that repeats an earlier
    one; those are dropped. A line repeated back to back is kept once: "Athletic tape can
    compress muscles to improve pain symptoms while running." is the article's only word on
    whether taping helps.
    """
    lines = split_lines(text)
    if not lines:
        return []
    headline, body = lines[0], lines[1:]
    kept = _drop_boilerplate(body, authors)
    kept = _drop_captions(kept, seen_headings={heading_title(headline).casefold()})

    sections = [Section(title=title or heading_title(headline))]
    for line in kept:
        if looks_like_heading(line):
            sections.append(Section(title=heading_title(line)))
        else:
            sections[-1].blocks.append(Block(kind="item" if line.is_item else "para", start=line.start, end=line.end))
    return [section for section in sections if section.blocks]


def _drop_boilerplate(lines: list[Line], authors: tuple[str, ...]) -> list[Line]:
    kept: list[Line] = []
    skipping_section = False
    for line in lines:
        scope = _boilerplate_scope(line.text, authors)
        if scope == "rest":
            break
        if scope == "section":
            skipping_section = True
            continue
        if skipping_section:
            if looks_like_heading(line):
                skipping_section = False
            else:
                continue
        if scope == "line":
            continue
        kept.append(line)
    return kept


def _drop_captions(lines: list[Line], seen_headings: set[str]) -> list[Line]:
    kept: list[Line] = []
    for i, line in enumerate(lines):
        if i > 0 and line.text == lines[i - 1].text:
            continue  # a caption printed twice in a row (image caption and alt text) is kept once
        if looks_like_heading(line):
            key = heading_title(line).casefold()
            followed_by_heading = i + 1 < len(lines) and looks_like_heading(lines[i + 1])
            if key in seen_headings or followed_by_heading:
                continue
            seen_headings.add(key)
        kept.append(line)
    return kept
