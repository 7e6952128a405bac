"""What the same-incident grouping compares: text shingles and MinHash, TF-IDF of the problem
words, one caller's habitual words, and whether two complaints name the same place.

See :mod:`events.grouping` for how these become links and incidents.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from events.config import GroupingConfig
from nlp.places.normalize import anchors_match

_RE_DROP = re.compile(r"\[[^\[\]]{1,6}\]|[^\u4e00-\u9fffA-Za-z0-9]")


def shingles(text: str, k: int = 3) -> set[str]:
    """Character k-grams of a text without punctuation, spaces and PII placeholders."""
    s = _RE_DROP.sub("", text or "")
    if len(s) <= k:
        return {s} if s else set()
    return {s[i : i + k] for i in range(len(s) - k + 1)}


def shingle_hashes(text: str, k: int = 3) -> np.ndarray:
    """32-bit hashes of the distinct character k-grams of :func:`shingles`, computed in bulk.

    A polynomial hash of the code points mixed with a multiply-xorshift; stable across processes
    (unlike Python's ``hash``), so the same input always gives the same groups.
    """
    s = _RE_DROP.sub("", text or "")
    if not s:
        return np.zeros(0, dtype=np.uint64)
    cps = np.frombuffer(s.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    if len(cps) < k:
        cps = np.concatenate([cps, np.zeros(k - len(cps), dtype=np.uint64)])
    mask = np.uint64(0xFFFFFFFF)
    h = np.zeros(len(cps) - k + 1, dtype=np.uint64)
    for off in range(k):
        h = (h * np.uint64(0x01000193) + cps[off : len(cps) - k + 1 + off]) & mask
    h ^= h >> np.uint64(15)
    h = (h * np.uint64(0x2C1B3C6D)) & mask
    h ^= h >> np.uint64(12)
    return np.unique(h)


def minhashes(texts: Sequence[str], config: GroupingConfig) -> list[Any]:
    """A LeanMinHash per text (datasketch), all sharing one set of permutations."""
    from datasketch import LeanMinHash, MinHash

    hashed = [shingle_hashes(t, config.shingle_size) for t in texts]
    return [
        LeanMinHash(m) for m in MinHash.bulk(hashed, num_perm=config.num_perm, seed=config.seed, hashfunc=int)
    ]


def tfidf_matrix(
    term_lists: Sequence[Sequence[str]],
    max_terms: int | None = 30,
    reference: Sequence[Sequence[str]] | None = None,
) -> Any:
    """L2-normalised TF-IDF rows of already segmented texts, as a scipy CSR matrix.

    Sublinear tf and smoothed idf as in scikit-learn, learned on these texts plus
    ``reference`` (other complaints' terms: a small incremental batch alone would make a word
    that half of its 20 complaints share look common). With
    ``max_terms`` each row keeps only its most distinctive words: operator boilerplate
    (来电人称此前已多次反映, 问题何时能解决) otherwise makes unrelated complaints about one compound
    look alike, while the words that say what the problem is (水箱, 电压, 油烟) rank highest.
    """
    from scipy import sparse

    vocab: dict[str, int] = {}
    indptr = [0]
    indices: list[int] = []
    data: list[float] = []
    for terms in term_lists:
        counts = Counter(terms or ())
        for term, c in counts.items():
            indices.append(vocab.setdefault(term, len(vocab)))
            data.append(1.0 + math.log(c))
        indptr.append(len(indices))
    n = len(indptr) - 1
    x = sparse.csr_matrix(
        (np.asarray(data, dtype=np.float64), np.asarray(indices, dtype=np.int64), np.asarray(indptr)),
        shape=(n, max(len(vocab), 1)),
    )
    df = np.bincount(x.indices, minlength=x.shape[1]).astype(np.float64)
    n_docs = n
    if reference:
        for terms in reference:
            for term in set(terms or ()):
                k = vocab.get(term)
                if k is not None:
                    df[k] += 1
            n_docs += 1
    idf = np.log((1 + n_docs) / (1 + df)) + 1.0
    x = sparse.csr_matrix(x @ sparse.diags(idf))
    if max_terms:
        for r in range(n):
            a, b = x.indptr[r], x.indptr[r + 1]
            if b - a > max_terms:
                row = x.data[a:b]
                # Ties broken by column (first-seen word) so the result never depends on sort internals.
                order = np.lexsort((x.indices[a:b], -row))
                row[order[max_terms:]] = 0.0
        x.eliminate_zeros()
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sparse.csr_matrix(sparse.diags(1.0 / norms) @ x)


def caller_problem_terms(
    terms: Sequence[Sequence[str]], callers: Sequence[str], min_docs: int, share: float
) -> tuple[list[list[str]], set[str]]:
    """Each document's terms without its caller's habitual words.

    A word is habitual for a caller with at least ``min_docs`` documents when it appears in at
    least ``share`` of them: for a poster who writes about many things it is their style or their
    address, not the problem. Documents without a caller, or of callers with fewer documents,
    keep all their terms. Also returns the callers whose habitual words were dropped.
    """
    by_caller: dict[str, list[int]] = defaultdict(list)
    for k, c in enumerate(callers):
        if c:
            by_caller[c].append(k)
    out = [list(t) for t in terms]
    prolific: set[str] = set()
    for caller, docs in by_caller.items():
        if len(docs) < min_docs:
            continue
        df: Counter[str] = Counter()
        for k in docs:
            df.update(set(terms[k]))
        # At least 3 documents: two messages sharing a word is what a repeat looks like.
        habitual = {w for w, c in df.items() if c >= max(share * len(docs), 3)}
        if habitual:
            prolific.add(caller)
            for k in docs:
                out[k] = [w for w in terms[k] if w not in habitual]
    return out, prolific


def place_relation(anchor_a: str, places_a: Sequence[str], anchor_b: str, places_b: Sequence[str]) -> str:
    """``"anchor"`` if the anchors match, ``"mention"`` if one's anchor is among the other's
    places, else ``""``."""
    if anchor_a and anchor_b and anchors_match(anchor_a, anchor_b):
        return "anchor"
    if anchor_a and any(anchors_match(anchor_a, p) for p in places_b or ()):
        return "mention"
    if anchor_b and any(anchors_match(anchor_b, p) for p in places_a or ()):
        return "mention"
    return ""


def as_list(v: Any) -> list[str]:
    """A list cell as read back from CSV/JSON/Parquet (JSON text, list, array or missing) as strings."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return []
    if isinstance(v, str):
        try:
            parsed = json.loads(v)
        except json.JSONDecodeError:
            return [v]
        return [str(x) for x in parsed] if isinstance(parsed, list) else []
    return [str(x) for x in v]
