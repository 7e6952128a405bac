"""Random personal data (checksums valid where the real thing has one) and export noise."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from data.samplegen.templates import PERSONAL_DATA

# ---------------------------------------------------------------------------------------------
# Personal data (all random; checksums valid where the real thing has one)
# ---------------------------------------------------------------------------------------------

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"
PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I or O on mainland plates
PLATE_PROVINCES: str = PERSONAL_DATA["plate_provinces"]
MOBILE_PREFIXES: tuple[str, ...] = PERSONAL_DATA["mobile_prefixes"]
AREA_CODES: tuple[str, ...] = PERSONAL_DATA["area_codes"]
EMAIL_DOMAINS: tuple[str, ...] = PERSONAL_DATA["email_domains"]  # reserved for examples (RFC 2606)
SYLLABLES: tuple[str, ...] = PERSONAL_DATA["syllables"]


@dataclass(frozen=True)
class PII:
    """One planted item of personal data: its kind (as ``nlp.pii`` names them) and its text."""

    kind: str
    value: str


def resident_id(rng: random.Random) -> str:
    """A random 18-character resident ID number with a valid ISO 7064 MOD 11-2 check character."""
    region = f"{rng.randint(1, 6)}{rng.randint(0, 99999):05d}"
    birth = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randint(0, 20000))
    body = f"{region}{birth:%Y%m%d}{rng.randint(0, 999):03d}"
    return body + ID_CHECK[sum(int(d) * w for d, w in zip(body, ID_WEIGHTS, strict=True)) % 11]


def luhn_complete(digits: str) -> str:
    """``digits`` plus the Luhn check digit."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:  # every second digit from the right, counting the check digit to come
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return digits + str((10 - total % 10) % 10)


def bank_card(rng: random.Random) -> str:
    """A random Luhn-valid 16- or 19-digit card number, sometimes grouped in fours."""
    length = rng.choice((16, 19))
    number = luhn_complete("62" + "".join(str(rng.randint(0, 9)) for _ in range(length - 3)))
    if rng.random() < 0.4:
        return " ".join(number[i : i + 4] for i in range(0, length, 4))
    return number


def mobile(rng: random.Random) -> str:
    """A random mobile number, written plain, spaced, dashed or with +86."""
    number = rng.choice(MOBILE_PREFIXES) + f"{rng.randint(0, 99_999_999):08d}"
    form = rng.choices(("plain", "space", "dash", "+86", "+86 "), weights=(6, 1, 1, 1, 1))[0]
    if form == "space":
        return f"{number[:3]} {number[3:7]} {number[7:]}"
    if form == "dash":
        return f"{number[:3]}-{number[3:7]}-{number[7:]}"
    if form == "+86":
        return "+86" + number
    if form == "+86 ":
        return "+86 " + number
    return number


def landline(rng: random.Random) -> str:
    """A random landline number with area code (``0575-87654321`` or ``(0575)87654321``)."""
    number = f"{rng.randint(2, 8)}{rng.randint(0, 9_999_999):07d}"
    code = rng.choice(AREA_CODES)
    return rng.choice((f"{code}-{number}", f"({code}){number}", f"{code}-{number}"))


def plate(rng: random.Random) -> str:
    """A random mainland licence plate (``浙A·12345``, ``苏E12345``, new-energy ``浙AD12345``)."""
    head = rng.choice(PLATE_PROVINCES) + rng.choice(PLATE_LETTERS[:8])
    if rng.random() < 0.15:
        tail = rng.choice("DF") + f"{rng.randint(0, 99999):05d}"
    else:
        chars = [str(rng.randint(0, 9)) for _ in range(5)]
        if rng.random() < 0.4:
            chars[rng.randint(0, 2)] = rng.choice(PLATE_LETTERS)
        tail = "".join(chars)
    return head + rng.choice(("·", "", "")) + tail


def email(rng: random.Random) -> str:
    """A random e-mail address at a domain reserved for examples."""
    local = "".join(rng.sample(SYLLABLES, 2)) + rng.choice(("", str(rng.randint(1, 99)), "_lj"))
    return f"{local}@{rng.choice(EMAIL_DOMAINS)}"


PII_MAKERS = {
    "mobile": mobile, "landline": landline, "id_card": resident_id, "plate": plate,
    "email": email, "bank_card": bank_card,
}  # fmt: skip
PII_WEIGHTS = {"mobile": 36, "landline": 14, "id_card": 16, "plate": 20, "email": 9, "bank_card": 24}
# How callers give each kind, phone transcripts first, then web messages.
PII_PHRASES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = PERSONAL_DATA["phrases"]
# Kinds that only make sense in some categories (refunds, vehicles); the others go anywhere.
PII_LABELS: dict[str, tuple[str, ...]] = PERSONAL_DATA["labels"]


def pii_sentence(rng: random.Random, style: str, label: str) -> tuple[str, list[PII]]:
    """A sentence giving one (now and then two) items of personal data fitting the category."""
    kinds = [k for k in PII_WEIGHTS if label in PII_LABELS.get(k, (label,))]
    items: list[PII] = []
    parts: list[str] = []
    for _ in range(2 if rng.random() < 0.12 else 1):
        left = [k for k in kinds if k not in {i.kind for i in items}]
        kind = rng.choices(left, weights=[PII_WEIGHTS[k] for k in left])[0]
        value = PII_MAKERS[kind](rng)
        phrases = PII_PHRASES[kind][0 if style == "phone" else 1]
        parts.append(rng.choice(phrases).format(v=value))
        items.append(PII(kind, value))
    return "".join(parts), items


# ---------------------------------------------------------------------------------------------
# Export noise
# ---------------------------------------------------------------------------------------------

ZERO_WIDTH = "\u200b"
TRADITIONAL = str.maketrans(
    PERSONAL_DATA["traditional"]["simplified"], PERSONAL_DATA["traditional"]["traditional"]
)
NOISE_KINDS = {"html": 3, "fullwidth": 2, "whitespace": 2, "zero_width": 2}  # relative frequency


def _to_fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalnum() else c for c in text)


def add_noise(text: str, kind: str, rng: random.Random) -> str:
    """``text`` with one kind of the debris real exports carry."""
    if kind == "html":
        text = text.replace("。", "。<br>", rng.randint(1, 3))
        return rng.choice(("&nbsp;&nbsp;", "<p>", "")) + text.replace("，", "，&nbsp;", 1)
    if kind == "fullwidth":
        return _to_fullwidth(text)
    if kind == "whitespace":
        runs = ("\n\n", "\t\t", "\r\n\r\n", " \n\t ", "\n   \n")
        return text.replace("。", "。" + rng.choice(runs), rng.randint(1, 2)) + rng.choice(("\n", "\t", ""))
    if kind == "zero_width":
        chars = list(text)
        for _ in range(rng.randint(1, 3)):
            chars.insert(rng.randint(1, len(chars) - 1), ZERO_WIDTH)
        return "".join(chars)
    if kind == "traditional":
        return text.translate(TRADITIONAL)
    raise ValueError(f"unknown noise kind {kind!r}")
