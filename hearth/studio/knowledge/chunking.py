"""Passages to retrieve: a post is one; a note (Markdown or plain text) is cut at paragraph and
heading boundaries into passages of about 150-250 words, each starting with the headings it sits
under, so a passage read alone (by the model, or by a fan following a citation) keeps its context."""

from __future__ import annotations

import re
from dataclasses import dataclass

MIN_WORDS = 150
MAX_WORDS = 250
HEADING_RE = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
SENTENCE_END_RE = re.compile(r"(?<=[.!?…])\s+")


@dataclass
class _Block:
    headings: tuple[str, ...]  # the heading trail it sits under
    text: str
    words: int


def post_passages(text: str, spoiler_text: str = "") -> list[str]:
    """A post is one passage (its content warning first, as the reader sees it)."""
    body = text.strip()
    if spoiler_text.strip():
        body = f"CW: {spoiler_text.strip()}\n{body}"
    return [body] if body else []


def _words(text: str) -> int:
    return len(text.split())


def _split_long(text: str, max_words: int) -> list[str]:
    """A paragraph longer than a passage: at sentence ends, then (a run-on sentence) at words."""
    pieces: list[str] = []
    current: list[str] = []
    count = 0
    for sentence in SENTENCE_END_RE.split(text):
        words = sentence.split()
        while len(words) > max_words:  # one sentence longer than a passage
            if current:
                pieces.append(" ".join(current))
                current, count = [], 0
            pieces.append(" ".join(words[:max_words]))
            words = words[max_words:]
        if count + len(words) > max_words and current:
            pieces.append(" ".join(current))
            current, count = [], 0
        if words:
            current.append(" ".join(words))
            count += len(words)
    if current:
        pieces.append(" ".join(current))
    return pieces


def _blocks(text: str, max_words: int) -> list[_Block]:
    """Paragraphs (blank-line separated; a heading line ends one) with the headings above them."""
    trail: list[tuple[int, str]] = []
    blocks: list[_Block] = []
    lines: list[str] = []

    def flush() -> None:
        para = "\n".join(lines).strip()
        lines.clear()
        if para:
            headings = tuple(h for _, h in trail)
            for piece in _split_long(para, max_words) if _words(para) > max_words else [para]:
                blocks.append(_Block(headings, piece, _words(piece)))

    in_fence = False
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
        heading = None if in_fence else HEADING_RE.match(line.strip())
        if heading:
            flush()
            level = len(heading.group(1))
            trail = [(lv, h) for lv, h in trail if lv < level] + [(level, heading.group(2).strip())]
        elif not line.strip() and not in_fence:
            flush()
        else:
            lines.append(line)
    flush()
    return blocks


def note_passages(title: str, text: str, min_words: int = MIN_WORDS, max_words: int = MAX_WORDS) -> list[str]:
    """Cut a note into passages; each starts with "Title › Heading › Subheading" as context."""
    passages: list[str] = []
    current: list[_Block] = []
    count = 0

    def emit() -> None:
        if not current:
            return
        parts: list[str] = []
        shown: tuple[str, ...] | None = None
        for block in current:
            if block.headings != shown:
                if shown is not None and block.headings:  # a later section inside the same passage
                    parts.append(block.headings[-1])
                shown = block.headings
            parts.append(block.text)
        context = " › ".join(x for x in (title.strip(), *current[0].headings) if x)
        passages.append((context + "\n\n" if context else "") + "\n\n".join(parts))
        current.clear()

    for block in _blocks(text, max_words):
        new_section = bool(current) and block.headings != current[-1].headings
        if current and (count + block.words > max_words or (new_section and count >= min_words)):
            emit()
            count = 0
        current.append(block)
        count += block.words
    emit()
    return passages
