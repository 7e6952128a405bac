"""Normalisation of complaint text.

Hotline exports carry HTML from web forms (``<br>``, ``&nbsp;``), full-width letters and digits
typed with a Chinese IME, zero-width characters pasted from chat apps, tab and newline runs from
Excel cells, and now and then traditional characters. :func:`normalize_text` turns all of that
into one canonical form so that the classifier, jieba and the near-duplicate detector see the
same string for the same complaint.
"""

from __future__ import annotations

import html
import re
import sys
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

# Full-width forms that are the *standard* Chinese punctuation stay as they are: converting "，"
# to "," makes text harder to read for operators and changes nothing for the models (the
# tokenizer normalises them itself).
_KEEP_FULLWIDTH = frozenset("，。！？；：（）、")

_FULL2HALF = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F) if chr(cp) not in _KEEP_FULLWIDTH}
_FULL2HALF[0x3000] = 0x20  # ideographic space

# These run on whole, possibly hostile, texts before any length cut, so none may backtrack
# more than a constant per start position: a tag ends at the next "<" as well as at ">" (with
# [^>]* a text of many "<br" without ">" was rescanned to its end from each one), the optional
# "/" carries its own whitespace (two \s* around it retried every split of a whitespace run),
# and a newline run is matched only from the start of its whitespace (\s*\n\s* tried every
# position of a long run of spaces that the space collapse below does not cover, e.g. U+2028).
_RE_BR = re.compile(r"<\s*(?:br|p|/p|div|/div|li)\b[^<>]*>", re.IGNORECASE)
_RE_TAG = re.compile(r"<\s*(?:/\s*)?[A-Za-z][A-Za-z0-9]*\b[^<>]*>")
_RE_SPACES = re.compile(r"[ \t\f\v\u00a0\u2000-\u200a\u202f\u205f]+")
_RE_NEWLINES = re.compile(r"(?<![^\S\n])[^\S\n]*\n\s*")


@dataclass(frozen=True)
class NormalizeOptions:
    """What :func:`normalize_text` does; the defaults suit classification input."""

    fullwidth: bool = True
    strip_html: bool = True
    keep_newlines: bool = False
    traditional_to_simplified: bool = False


@lru_cache(maxsize=1)
def _control_chars() -> re.Pattern[str]:
    # Cc (controls) and Cf (format: zero-width space/joiner, BOM, bidi marks) carry no meaning in
    # complaint text; tabs and newlines are whitespace and are handled by the collapse below.
    cps = [
        cp
        for cp in range(sys.maxunicode + 1)
        if unicodedata.category(chr(cp)) in ("Cc", "Cf") and chr(cp) not in "\t\n"
    ]
    # Contiguous code points as ranges: a compact class is several times faster to match.
    ranges: list[list[int]] = []
    for cp in cps:
        if ranges and cp == ranges[-1][1] + 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    body = "".join(
        re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges
    )
    return re.compile(f"[{body}]+")


def _strip_controls(text: str) -> str:
    return _control_chars().sub("", text)


@lru_cache(maxsize=1)
def _t2s_converter():  # opencc ships no type stubs
    import opencc

    return opencc.OpenCC("t2s")


def traditional_to_simplified(text: str) -> str:
    """Convert traditional Chinese characters to simplified (OpenCC ``t2s``)."""
    return _t2s_converter().convert(text)


def normalize_text(text: object, options: NormalizeOptions | None = None) -> str:
    """Return the canonical form of one complaint text (``None``/NaN become ``""``)."""
    if text is None or (isinstance(text, float) and text != text):
        return ""
    opts = options or NormalizeOptions()
    s = str(text)
    if opts.strip_html and ("<" in s or "&" in s):
        s = _RE_BR.sub("\n", s)
        s = _RE_TAG.sub("", s)
        s = html.unescape(s)
    s = s.replace("\r\n", "\n").replace("\r", "\n")
    s = _strip_controls(s)
    if opts.fullwidth:
        s = s.translate(_FULL2HALF)
    if opts.traditional_to_simplified:
        s = traditional_to_simplified(s)
    s = _RE_SPACES.sub(" ", s)
    s = _RE_NEWLINES.sub("\n" if opts.keep_newlines else " ", s)
    return s.strip()


def join_title_text(title: object, text: object, sep: str = "。") -> str:
    """Classifier input: the title then the message, unless the message already starts with it."""
    t = normalize_text(title)
    x = normalize_text(text)
    if not t:
        return x
    if not x or x.startswith(t):
        return x or t
    return t + sep + x


def display_width(text: str) -> int:
    """Columns ``text`` takes in a terminal: CJK (wide and full-width) characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def pad(text: str, width: int) -> str:
    """``text`` left-aligned in ``width`` terminal columns (``str.ljust`` counts CJK as one)."""
    return text + " " * max(0, width - display_width(text))
