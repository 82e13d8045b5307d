"""Just enough Markdown for the documentation tests: fenced code blocks, links and GitHub's heading anchors."""

from __future__ import annotations

import re
from dataclasses import dataclass

FENCE = re.compile(r"^```(\S*)\s*$")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]\n]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


@dataclass(frozen=True)
class Fence:
    """A fenced code block: its language, the line numbers (0-based) of its opening and closing fences, its body."""

    language: str
    opening: int
    closing: int
    body: str


def fences(lines: list[str]) -> list[Fence]:
    found = []
    opening: tuple[int, str] | None = None
    for number, line in enumerate(lines):
        match = FENCE.match(line)
        if not match:
            continue
        if opening is None:
            opening = (number, match.group(1))
        else:
            start, language = opening
            found.append(Fence(language, start, number, "".join(f"{text}\n" for text in lines[start + 1 : number])))
            opening = None
    if opening is not None:
        raise ValueError(f"the code block opened on line {opening[0] + 1} is never closed")
    return found


def prose(lines: list[str]) -> list[tuple[int, str]]:
    """The lines outside code blocks, with their 0-based numbers."""
    inside = {number for fence in fences(lines) for number in range(fence.opening, fence.closing + 1)}
    return [(number, line) for number, line in enumerate(lines) if number not in inside]


def links(lines: list[str]) -> list[tuple[int, str]]:
    """Every link target in the prose (not in code), with its 0-based line number."""
    return [
        (number, match.group(1)) for number, line in prose(lines) for match in LINK.finditer(INLINE_CODE.sub("", line))
    ]


def anchors(lines: list[str]) -> set[str]:
    """The anchors GitHub gives the headings: lower case, punctuation dropped, spaces as hyphens, repeats numbered."""
    seen: dict[str, int] = {}
    for _, line in prose(lines):
        match = HEADING.match(line)
        if not match:
            continue
        slug = re.sub(r"[^\w\- ]", "", match.group(2).strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        if count:
            seen[f"{slug}-{count}"] = 1
    return set(seen)
