"""Chinese word segmentation (jieba) and keyword extraction.

jieba's general dictionary splits city-management terms (占道经营, 渣土车, 二次供水) and place
names into pieces; ``data/userdict.txt`` keeps them whole. A private :class:`jieba.Tokenizer`
is used rather than the module-level one so that loading our dictionary never changes jieba for
other code in the same process.

Keywords come two ways: :class:`TfidfKeywords` learns document frequencies on the complaint log
at hand (a word that appears in every complaint, like 反映, scores low there even if it is rare
in jieba's news corpus), and :func:`textrank_keywords` ranks words of a single text by
co-occurrence, which needs no corpus.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import jieba
import jieba.analyse
import jieba.posseg

from data import DATA_DIR

logger = logging.getLogger(__name__)

_LOCK = threading.Lock()
_RE_KEEP = re.compile(r"[\u4e00-\u9fffA-Za-z]")
_PLACEHOLDER = re.compile(r"\[[^\[\]]{1,6}\]")
_CONTENT_POS = ("n", "nr", "ns", "nt", "nz", "vn", "v", "an", "l", "i", "eng")


@lru_cache(maxsize=4)
def get_tokenizer(userdict: str | None = None) -> jieba.Tokenizer:
    """A jieba tokenizer with the city-management user dictionary loaded (cached per path)."""
    path = Path(userdict) if userdict else DATA_DIR / "userdict.txt"
    jieba.setLogLevel(logging.WARNING)  # its dictionary-loading chatter goes to stderr otherwise
    tok = jieba.Tokenizer()
    with _LOCK:
        tok.initialize()
        if path.exists():
            tok.load_userdict(str(path))
        else:
            logger.warning("jieba user dictionary %s not found; using jieba's default dictionary only", path)
    return tok


@lru_cache(maxsize=4)
def _pos_tokenizer(userdict: str | None = None) -> jieba.posseg.POSTokenizer:
    return jieba.posseg.POSTokenizer(get_tokenizer(userdict))


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    """Function words plus hotline boilerplate (来电, 反映, 相关部门 ...), from data/stopwords.txt."""
    lines = (DATA_DIR / "stopwords.txt").read_text(encoding="utf-8").splitlines()
    return frozenset(w.strip() for w in lines if w.strip() and not w.startswith("#"))


def _is_content(word: str) -> bool:
    return len(word) > 1 and word not in stopwords() and bool(_RE_KEEP.search(word))


def segment(text: str, *, content_only: bool = False, userdict: str | None = None) -> list[str]:
    """Split ``text`` into words; ``content_only`` drops stop words, punctuation and 1-char words.

    PII placeholders such as ``[手机号]`` are kept as single tokens.
    """
    tok = get_tokenizer(userdict)
    words: list[str] = []
    pos = 0
    for m in _PLACEHOLDER.finditer(text):
        words.extend(tok.lcut(text[pos : m.start()]))
        words.append(m.group())
        pos = m.end()
    words.extend(tok.lcut(text[pos:]))
    words = [w for w in (w.strip() for w in words) if w]
    if content_only:
        words = [w for w in words if _is_content(w) and not _PLACEHOLDER.fullmatch(w)]
    return words


def textrank_keywords(text: str, top_k: int = 5, *, userdict: str | None = None) -> list[tuple[str, float]]:
    """Keywords of one text by TextRank over nouns and verbs, stop words removed."""
    tr = jieba.analyse.TextRank()
    tr.tokenizer = tr.postokenizer = _pos_tokenizer(userdict)
    tr.stop_words = set(tr.stop_words) | set(stopwords())
    pairs = tr.textrank(_PLACEHOLDER.sub(" ", text), topK=top_k * 2, withWeight=True, allowPOS=_CONTENT_POS)
    return [(w, float(s)) for w, s in pairs if _is_content(w)][:top_k]


class TfidfKeywords:
    """Keywords by TF-IDF with document frequencies learned on a corpus of complaints.

    >>> kw = TfidfKeywords().fit(texts)              # doctest: +SKIP
    >>> kw.keywords("小区门口夜间施工噪音扰民", 3)        # doctest: +SKIP
    """

    def __init__(self, *, userdict: str | None = None, min_df: int = 1) -> None:
        self.userdict = userdict
        self.min_df = min_df
        self.doc_freq: Counter[str] = Counter()
        self.n_docs = 0

    def fit(self, texts: Iterable[str]) -> TfidfKeywords:
        for text in texts:
            self.partial_fit([text])
        return self

    def partial_fit(self, texts: Iterable[str]) -> TfidfKeywords:
        for text in texts:
            self.doc_freq.update(set(segment(text, content_only=True, userdict=self.userdict)))
            self.n_docs += 1
        return self

    def idf(self, word: str) -> float:
        # Smoothed IDF as in scikit-learn: unseen words get the highest weight, not infinity.
        return math.log((1 + self.n_docs) / (1 + self.doc_freq.get(word, 0))) + 1.0

    def keywords(self, text: str, top_k: int = 5) -> list[tuple[str, float]]:
        words = segment(text, content_only=True, userdict=self.userdict)
        if not words:
            return []
        tf = Counter(words)
        total = sum(tf.values())
        scored = [
            (w, (c / total) * self.idf(w))
            for w, c in tf.items()
            if self.n_docs == 0 or self.doc_freq.get(w, 0) >= self.min_df or w not in self.doc_freq
        ]
        scored.sort(key=lambda p: (-p[1], p[0]))
        return scored[:top_k]

    def top_terms(self, texts: Iterable[str], top_k: int = 10) -> list[tuple[str, float]]:
        """Keywords of a group of texts (an incident, a category) taken together."""
        return self.keywords("\n".join(texts), top_k)
