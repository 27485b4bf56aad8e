"""Named sub-patterns in the rules files: a pattern says `{painv}` or `{medicines}` and the
file's `[terms]` table says once what that is, so a list kept in one place cannot drift
between the patterns that use it. Both the safety and the scope rules use this."""

from __future__ import annotations

import re
from collections.abc import Mapping

_TERM_REF = re.compile(r"\{([a-z_][a-z0-9_]*)\}")  # "{0,25}" is a quantifier, not a term


def expand(pattern: str, terms: Mapping[str, str]) -> str:
    """`pattern` with its `{name}` terms replaced; ValueError names an unknown or circular term."""

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in terms:
            raise ValueError(f"unknown term '{{{name}}}' in pattern {pattern!r}")
        return terms[name]

    # A term may use other terms ("{tired_legs}" uses "{sw}"); a few rounds reach the bottom.
    for _ in range(4):
        expanded = _TERM_REF.sub(sub, pattern)
        if expanded == pattern:
            return expanded
        pattern = expanded
    raise ValueError(f"terms nested too deep (or referring to each other) in pattern {pattern!r}")
