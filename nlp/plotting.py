"""Chinese text in matplotlib figures (training reports, forecast and survival plots).

Chinese category names need a CJK font, which many servers lack (matplotlib's DejaVu Sans has
no Chinese glyphs and draws empty boxes). :func:`find_cjk_font` looks for one that covers the
text, in this order:

1. the file named by ``HOTLINE_CJK_FONT``;
2. Noto Sans SC shipped by the ``pylopdf-fonts-zh-cn`` wheel (a project dependency, data only,
   SIL OFL), so a fresh machine renders Chinese without any system package;
3. fonts matplotlib already knows, then font files in the system font folders. The folders are
   scanned directly because matplotlib's font list is a cache written on first import: a CJK
   font installed later (``apt-get install fonts-noto-cjk``) is missing from it until the cache
   is rebuilt by hand.

The font is registered with ``fontManager.addfont`` (no cache rebuild) and put first in the
sans-serif list, so titles, legends and tick labels all use it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

FONT_ENV = "HOTLINE_CJK_FONT"
_PROBE = "投诉噪音环境交通教育卫生城乡劳动保障"
# File-name hints of CJK fonts: checked first, and the only system files opened (opening every
# font of a large system folder with FreeType takes seconds).
_HINTS = (
    "cjk",
    "han",
    "hei",
    "song",
    "kai",
    "ming",
    "wenquanyi",
    "wqy",
    "yahei",
    "pingfang",
    "noto",
    "droid",
)


def _covers(path: str, text: str) -> bool:
    from matplotlib.ft2font import FT2Font

    try:
        font = FT2Font(path)
    except (OSError, RuntimeError, ValueError):
        return False
    return all(font.get_char_index(ord(ch)) != 0 for ch in set(text) if not ch.isascii())


def missing_glyphs(path: str, text: str) -> str:
    """The characters of ``text`` (other than whitespace) that the font file has no glyph for."""
    from matplotlib.ft2font import FT2Font

    font = FT2Font(path)
    return "".join(sorted(ch for ch in set(text) if not ch.isspace() and font.get_char_index(ord(ch)) == 0))


def bundled_font() -> str | None:
    """Noto Sans SC from the ``pylopdf-fonts-zh-cn`` package, when it is installed."""
    try:
        import pylopdf_fonts_zh_cn
    except ImportError:
        return None
    path = pylopdf_fonts_zh_cn.sans_path()
    return str(path) if path.is_file() else None


def _hinted(path: str) -> bool:
    return any(h in Path(path).name.lower() for h in _HINTS)


def _is_last_resort(path: str) -> bool:
    # "Last Resort" fonts map every code point to a placeholder box: coverage without glyphs.
    return "lastresort" in Path(path).name.lower().replace("-", "").replace("_", "")


def _candidates() -> Iterable[str]:
    from matplotlib import font_manager

    known = sorted({f.fname for f in font_manager.fontManager.ttflist}, key=lambda p: (not _hinted(p), p))
    yield from known
    seen = set(known)
    try:
        system = font_manager.findSystemFonts(fontext="ttf")
    except OSError:  # an unreadable font folder
        system = []
    yield from sorted(p for p in system if p not in seen and _hinted(p))


@lru_cache(maxsize=8)
def find_cjk_font(text: str = _PROBE) -> str | None:
    """Path of a font file that has glyphs for every character of ``text`` (or None)."""
    explicit = os.environ.get(FONT_ENV)
    if explicit:
        if Path(explicit).is_file() and _covers(explicit, text):
            return explicit
        logger.warning("%s=%s does not exist or lacks Chinese glyphs; looking elsewhere", FONT_ENV, explicit)
    bundled = bundled_font()
    if bundled and _covers(bundled, text):
        return bundled
    for path in _candidates():
        if not _is_last_resort(path) and _covers(path, text):
            return path
    logger.warning(
        "no font with Chinese glyphs found: Chinese text in figures renders as boxes "
        "(install the pylopdf-fonts-zh-cn package or set %s)",
        FONT_ENV,
    )
    return None


@lru_cache(maxsize=8)
def register_font(path: str) -> str:
    """Add a font file to matplotlib's font manager (this process only); returns its family name."""
    from matplotlib import font_manager

    font_manager.fontManager.addfont(path)
    return font_manager.FontProperties(fname=path).get_name()


def label_font(labels: Sequence[str]) -> tuple[Any, str | None]:
    """A FontProperties for Chinese labels, or None; and the font file used."""
    from matplotlib.font_manager import FontProperties

    text = "".join(labels)
    if all(ch.isascii() for ch in text):
        return None, "default"
    path = find_cjk_font(text)
    return (FontProperties(fname=path), path) if path else (None, None)


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend, with a CJK font first in the sans-serif list."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    path = find_cjk_font()
    families = ["DejaVu Sans"]
    if path:
        # matplotlib >= 3.6 falls back glyph by glyph along this list: Chinese from the CJK font,
        # anything it lacks from DejaVu Sans.
        families.insert(0, register_font(path))
    plt.rcParams["font.family"] = "sans-serif"
    plt.rcParams["font.sans-serif"] = families
    plt.rcParams["axes.unicode_minus"] = False
    return plt
