"""Seconds per 100 KB of adversarial text for the masking and extraction patterns (issue 12.1).

Each case is a short head, a body repeated to the requested size and a short tail - the shapes
that made a pattern backtrack over a whole run (a long ASCII run before an ``@``, whitespace
runs, many ``<br`` without ``>``, a text full of place names). The figure is the best of
``--repeat`` runs, scaled to 100 KB; run it at two sizes to see whether the cost grows linearly.

    python bench/redos.py                         # every function, 100 KB
    python bench/redos.py --funcs mask_pii --size-kb 20 100
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CASES: dict[str, list[tuple[str, str, str]]] = {
    "mask_pii": [
        ("", "a", "@"),
        ("@", "1", ""),
        ("123456", "a.", "@"),
        ("", "a@", ""),
        ("", "13812345678，", ""),
        ("", "1 ", ""),
        ("", "湘A", ""),
    ],
    "normalize_text": [("<", " ", ""), ("", "<br", ""), ("a", "\u1680", "a"), ("", "\u2028", "")],
    "extract_times": [
        ("", " ", ""),
        ("", "\n", ""),
        ("", "2019-1-1", ""),
        ("", "3月5日", ""),
        ("", "一二三", ""),
    ],
    "location": [("", "阳光花园小区", ""), ("", "阳光小区，", ""), ("", "人民路", ""), ("", "A3区", "")],
}


def _functions() -> dict[str, Callable[[str], object]]:
    from nlp.pii import mask_pii
    from nlp.places.extract import LocationExtractor
    from nlp.places.gazetteer import load_gazetteer
    from nlp.text import normalize_text
    from nlp.timeexpr import extract_times

    loc = LocationExtractor(load_gazetteer("none"))
    ref = datetime(2020, 1, 10, 12, 0)
    return {
        "mask_pii": mask_pii,
        "normalize_text": normalize_text,
        "extract_times": lambda t: extract_times(t, ref),
        "location": lambda t: loc.extract(t, ""),
    }


def adversarial(head: str, body: str, tail: str, n: int) -> str:
    k = max(1, n - len(head) - len(tail))
    return head + (body * (k // len(body) + 1))[:k] + tail


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--funcs", nargs="*", default=list(CASES), choices=list(CASES))
    ap.add_argument("--size-kb", nargs="*", type=int, default=[100])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    funcs = _functions()
    for name in args.funcs:
        fn = funcs[name]
        fn(adversarial("", "阳光小区", "", 1000))  # load jieba and build cached patterns first
        for head, body, tail in CASES[name]:
            cells = []
            for kb in args.size_kb:
                text = adversarial(head, body, tail, kb * 1000)
                best = float("inf")
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    fn(text)
                    best = min(best, time.perf_counter() - t0)
                cells.append(f"{kb} KB: {best * 100 / kb:8.3f} s/100KB")
            print(f"{name:15s} {head!r:>10} + {body!r:>16}* + {tail!r:<6} " + "  ".join(cells), flush=True)


if __name__ == "__main__":
    main()
