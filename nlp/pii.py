"""Personal-data masking for complaint text.

Citizens put phone numbers, resident ID numbers, licence plates, e-mail addresses and bank card
numbers into their messages. None of it may reach a log, a rejects file, a training set or a
report. :func:`mask_pii` replaces each with a typed placeholder (``[手机号]``, ``[身份证号]`` ...)
so the text stays readable and the classifier still sees *that* a number was given.

Detection is pattern based with validation where the number carries a checksum (18-digit
resident ID: ISO 7064 MOD 11-2; bank cards: Luhn) so that order numbers and long amounts are not
mistaken for IDs. Bank-card-length digit runs that fail Luhn are still masked when a card keyword
(卡号, 银行卡, 账号) is nearby, because operators do mistype card numbers.

Every pattern runs in time linear in the text: :func:`mask_pii` sees whole request bodies and
log lines before any length cut, so a pattern that backtracks over a long run of letters or
digits would let one hostile message stall the service. Repetitions are bounded, and the e-mail
detector anchors on each ``@`` instead of trying every start position of a long ASCII run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PLACEHOLDERS = {
    "id_card": "[身份证号]",
    "mobile": "[手机号]",
    "landline": "[电话]",
    "email": "[邮箱]",
    "bank_card": "[银行卡号]",
    "plate": "[车牌号]",
}

_PROVINCE_ABBR = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼使领"

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"

# Digits may not be glued to other digits or latin letters (order numbers, URLs).
_NB = r"(?<![0-9A-Za-z])"
_NA = r"(?![0-9A-Za-z])"

# 6-8-4 digits; callers also write them grouped with spaces or dashes (430102 19850715 1233,
# 430102 1985 0715 1233), so one optional separator is allowed after the region code, the year
# and the birth date. The checksum (on the digits alone) keeps order numbers out.
_RE_ID = re.compile(
    _NB
    + r"([1-9]\d{5}[ -]?(?:18|19|20)\d{2}[ -]?(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])[ -]?\d{3}[0-9Xx])"
    + _NA
)
# E-mail: found from each "@" (see _emails), never by a pattern that starts anywhere in a run of
# letters and digits - that retried the whole run from every start position (quadratic).
_EMAIL_LOCAL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-")
_EMAIL_DOMAIN_MAX = 255
_RE_EMAIL_DOMAIN = re.compile(r"[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# Mobile: optional +86/0086/86 prefix, 1[3-9]x, allowing the usual 3-4-4 spacing or dashes, or
# dots (138.1234.5678) - both dots, so that an amount such as 138.12345678 is not a phone.
_RE_MOBILE = re.compile(
    _NB + r"(?:(?:\+|00)?86[ -]?)?(1[3-9]\d(?:[ -]?\d{4}[ -]?\d{4}|\.\d{4}\.\d{4}))" + _NA
)
# Landline: area code 0xx/0xxx (optionally in brackets) + 7-8 digit number, or a bare 7-8 digit
# number introduced by a phone keyword; optional extension.
_RE_LANDLINE = re.compile(
    _NB + r"(?:[(（]0\d{2,3}[)）]|0\d{2,3}[ -]?)[2-9]\d{6,7}(?:[ -]?(?:转|ext\.?|x)\s?\d{1,5})?" + _NA
)
_RE_LANDLINE_KW = re.compile(r"(?:电话|座机|联系方式|致电|拨打|号码)[:：是为 ]{0,3}([2-9]\d{6,7})" + _NA)
_RE_CARD = re.compile(_NB + r"((?:\d[ -]?){15,18}\d)" + _NA)
_CARD_KEYWORDS = ("卡号", "银行卡", "账号", "帐号", "储蓄卡", "信用卡", "借记卡")
# Mainland plates: province abbreviation, letter, optional separator, 5 characters
# (6 for new-energy plates), last may be 挂/学/警/港/澳. Typed in lower case too (湘a12345);
# see _plate_ok for what a lower-case one must also have.
_RE_PLATE = re.compile(
    r"["
    + _PROVINCE_ABBR
    + r"][A-HJ-NP-Za-hj-np-z][·•.\- ]?"
    + r"(?:[A-HJ-NP-Za-hj-np-z0-9]{5,6}|[A-HJ-NP-Za-hj-np-z0-9]{4}[挂学警港澳])(?![A-Za-z0-9])"
)


# Every detector needs one of these; most complaint texts have none and skip all the patterns.
_RE_MAYBE = re.compile(r"\d{3}[ .-]?\d{3}|@|[" + _PROVINCE_ABBR + r"][A-HJ-NP-Za-hj-np-z]")


@dataclass(frozen=True)
class PIISpan:
    kind: str
    start: int
    end: int

    @property
    def placeholder(self) -> str:
        return PLACEHOLDERS[self.kind]


def valid_resident_id(number: str) -> bool:
    """True if an 18-character resident ID number has a valid ISO 7064 MOD 11-2 check digit."""
    if len(number) != 18 or not number[:17].isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == number[17].upper()


def luhn_valid(digits: str) -> bool:
    """True if a digit string passes the Luhn check used by bank cards."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _plate_ok(plate: str) -> bool:
    # Upper case after a province character is a plate; lower case is also how pinyin and English
    # words are typed (云backup), so a lower-case plate needs the digits every real serial has
    # (at most two letters among the five).
    if not any(c.islower() for c in plate):
        return True
    return sum(c.isdigit() for c in plate) >= 3


def _emails(text: str, taken: bytearray) -> list[tuple[int, int]]:
    """(start, end) of e-mail addresses, examined from each ``@``.

    The local part is the run of address characters before the ``@`` - from the end of an
    earlier address or other personal number at the latest, which is where a left-to-right
    regex would have started it; the domain is matched in a window of at most
    ``_EMAIL_DOMAIN_MAX`` characters after it. The runs before two ``@`` never overlap (an
    ``@`` ends them), nor do the windows' scans (an ``@`` ends the domain), so the work is
    linear in the text.
    """
    out: list[tuple[int, int]] = []
    floor = 0
    at = text.find("@")
    while at != -1:
        start = at
        while start > floor and text[start - 1] in _EMAIL_LOCAL and not taken[start - 1]:
            start -= 1
        m = _RE_EMAIL_DOMAIN.match(text, at + 1, at + 1 + _EMAIL_DOMAIN_MAX) if start < at else None
        if m is not None:
            out.append((start, m.end()))
            floor = m.end()
        at = text.find("@", max(at + 1, floor))
    return out


def find_pii(text: str) -> list[PIISpan]:
    """Locate personal data in ``text``; spans are sorted and never overlap.

    Earlier detectors win over later ones: an ID number is never re-read as a phone number.
    Runs in time linear in ``len(text)``.
    """
    spans: list[PIISpan] = []
    if not _RE_MAYBE.search(text):
        return spans
    # One byte per character, set where a span already covers it: the overlap test costs the
    # span's length, not the number of spans found so far (a text of 10,000 phone numbers).
    taken = bytearray(len(text))

    def add(kind: str, start: int, end: int) -> None:
        if taken.find(1, start, end) == -1:
            spans.append(PIISpan(kind, start, end))
            taken[start:end] = b"\x01" * (end - start)

    for m in _RE_ID.finditer(text):
        if valid_resident_id(re.sub(r"[ -]", "", m.group(1))):
            add("id_card", m.start(1), m.end(1))
    for start, end in _emails(text, taken):
        add("email", start, end)
    for m in _RE_CARD.finditer(text):
        digits = re.sub(r"[ -]", "", m.group(1))
        if not 16 <= len(digits) <= 19:
            continue
        context = text[max(0, m.start() - 12) : m.start()]
        if luhn_valid(digits) or any(k in context for k in _CARD_KEYWORDS):
            add("bank_card", m.start(1), m.end(1))
    for m in _RE_MOBILE.finditer(text):
        add("mobile", m.start(), m.end())
    for m in _RE_LANDLINE.finditer(text):
        add("landline", m.start(), m.end())
    for m in _RE_LANDLINE_KW.finditer(text):
        add("landline", m.start(1), m.end(1))
    for m in _RE_PLATE.finditer(text):
        if _plate_ok(m.group()):
            add("plate", m.start(), m.end())
    spans.sort(key=lambda s: s.start)
    return spans


def mask_pii(text: str) -> str:
    """Replace personal data in ``text`` with typed placeholders such as ``[手机号]``."""
    if not text:
        return text
    spans = find_pii(text)
    if not spans:
        return text
    out: list[str] = []
    pos = 0
    for span in spans:
        out.append(text[pos : span.start])
        out.append(span.placeholder)
        pos = span.end
    out.append(text[pos:])
    return "".join(out)


def count_pii(text: str) -> dict[str, int]:
    """Number of spans of each kind found in ``text`` (for reports; never the values)."""
    counts: dict[str, int] = {}
    for span in find_pii(text):
        counts[span.kind] = counts.get(span.kind, 0) + 1
    return counts


def mask_excerpt(value: object, limit: int = 40) -> str:
    """A short, masked excerpt of a caller-supplied value, safe to put in an error message.

    The value is cut to a bounded window *before* masking (so a hostile 100 KB value costs
    nothing) with a margin wide enough that a number straddling ``limit`` is still recognised
    and masked whole, then cut to ``limit`` characters after masking.
    """
    text = value if isinstance(value, str) else repr(value)
    # Lone surrogates cannot be encoded into a JSON response or a log line.
    text = text.encode("utf-8", "replace").decode("utf-8")
    window = text[: limit + 40]
    masked = mask_pii(window)
    if len(masked) > limit or len(text) > len(window):
        return masked[:limit] + "…"
    return masked
