"""Chinese text in matplotlib figures (training reports, forecast and survival plots).

Chinese category names need a CJK font, which many servers lack (matplotlib's DejaVu Sans has
no Chinese glyphs and draws empty boxes). :func:`find_cjk_font` looks for one that covers the
text: the file named by ``HOTLINE_CJK_FONT`` first, then any installed font matplotlib knows
(Noto Sans CJK, Source Han, WenQuanYi, SimHei, Microsoft YaHei, PingFang ...).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

FONT_ENV = "HOTLINE_CJK_FONT"
_PROBE = "投诉噪音环境交通教育卫生城乡劳动保障"


def _covers(path: str, text: str) -> bool:
    from matplotlib.ft2font import FT2Font

    try:
        font = FT2Font(path)
    except (OSError, RuntimeError, ValueError):
        return False
    return all(font.get_char_index(ord(ch)) != 0 for ch in set(text) if not ch.isascii())


@lru_cache(maxsize=8)
def find_cjk_font(text: str = _PROBE) -> str | None:
    """Path of a font file that has glyphs for every character of ``text`` (or None)."""
    from matplotlib import font_manager

    explicit = os.environ.get(FONT_ENV)
    if explicit:
        if Path(explicit).is_file() and _covers(explicit, text):
            return explicit
        logger.warning("%s=%s does not exist or lacks Chinese glyphs; looking elsewhere", FONT_ENV, explicit)
    hints = (
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
    fonts = sorted(
        {f.fname for f in font_manager.fontManager.ttflist},
        key=lambda p: (not any(h in Path(p).name.lower() for h in hints), p),
    )
    for path in fonts:
        # "Last Resort" fonts map every code point to a placeholder box: coverage without glyphs.
        if "lastresort" in Path(path).name.lower().replace("-", "").replace("_", ""):
            continue
        if _covers(path, text):
            return path
    return None


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
    from matplotlib import font_manager

    path = find_cjk_font()
    families = ["DejaVu Sans"]
    if path:
        font_manager.fontManager.addfont(path)
        families.insert(0, font_manager.FontProperties(fname=path).get_name())
    plt.rcParams["font.sans-serif"] = families
    plt.rcParams["axes.unicode_minus"] = False
    return plt
