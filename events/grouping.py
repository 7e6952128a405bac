"""Same-incident grouping: complaints about one problem at one place within a time window.

Two complaints are **linked** when they are close in time (``window_days``), do not contradict
each other on district (when both know it), do not name two *different* places (a template
posted for two compounds is two incidents), and one of these holds:

``minhash``
    Near-duplicate text: the Jaccard similarity of their character 3-gram sets, estimated by
    MinHash (datasketch, 128 permutations, LSH for candidates), is at least
    ``minhash_threshold``. This catches the copy-pasted re-posts and template complaints that
    make up much of a surge, and works for complaints that name no place.
``place``
    Same place, similar problem: both name the same fine-level place (:func:`nlp.places.normalize.
    anchors_match` on the anchors, or one's anchor among the other's places) and the TF-IDF
    cosine of their problem words (content words with place names removed) is at least
    ``place_threshold`` (``coarse_place_threshold`` when the shared place is only a road or
    a street, which covers more ground). A shared place alone never links: the problem words
    must agree too.
``text``
    No shared place but the same problem in the same words: TF-IDF cosine at least
    ``text_threshold`` (high: without a shared place only a close rewording is safe).
``embedding`` (only with a sentence-embedding model, see :mod:`events.embeddings`)
    cosine of multilingual-e5 embeddings at least ``embedding_threshold`` (0.94), or at least
    ``embedding_place_threshold`` (0.92) for complaints at the same place.

**Categories are evidence, not a gate.** When both complaints have a category and they differ,
every text threshold above is raised by ``category_penalty`` (embedding thresholds by
``embedding_category_penalty``) instead of forbidding the link: the categories are mostly
predicted, one incident is often filed under two (a burst main under 供水 and 道路交通), and a
misclassified complaint must still join its incident when place and problem agree. The
penalty is small (0.03): on the labelled real pairs any penalty only costs recall (0.72 with
none, 0.70 at 0.03, 0.64 at 0.08 with predicted categories) and no precision is gained.

**One caller's own words are not a shared problem.** A prolific poster writes every message in
the same style and often names their own estate in each ("地处时代倾城二期 ... 请加快 ... 力度"),
so their unrelated complaints share a place and many words. For two complaints by the same
**prolific** caller (hashed caller ids; at least ``caller_style_min`` complaints in the batch:
someone who files a handful about their one problem is not affected), the words that caller
uses in at least ``caller_style_share`` of them (and in at least three) are dropped before the
problem similarity is measured; a place link between them needs at least
``same_caller_threshold`` of it (their shared place is often just where they live), and a
near-duplicate (MinHash) link needs ``place_threshold`` of it unless the texts are almost
identical (``repost_minhash``: a re-post). Only the batch is seen (the new complaints and the
members of open incidents): a caller is recognised as prolific when a batch holds enough of
their complaints, as a whole-log load does.

``method`` chooses which links count: ``"combined"`` (default: minhash, place and text, plus
embedding links when embeddings are given) or a single one of them (for the evaluation in
``bench/events_eval.py``). Linked complaints form incidents by single linkage: an incident
grows while complaints keep coming within ``window_days`` of one of its members.

**Incremental.** :meth:`IncidentGrouper.assign` takes the new batch and the members of
incidents that are still open (their last complaint within ``window_days`` of the batch's
first). New complaints are linked among themselves and to those members; a connected group of
new complaints that touches one or more existing incidents joins the one with the strongest
link (existing incidents are never merged or split, so their ids stay stable); a group that
touches none becomes a new incident. Complaints already assigned are left where they are, so
loading a batch twice changes nothing.

**Deterministic ids.** An incident's id is ``INC-YYYYMMDD-<8 hex>`` from the date and id of
its first complaint (earliest time, then smallest id); the same input gives the same ids.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from common.errors import ConfigError
from events.config import GroupingConfig
from events.similarity import as_list, caller_problem_terms, minhashes, place_relation, tfidf_matrix


def incident_id(first_time: Any, first_id: str) -> str:
    """``INC-YYYYMMDD-xxxxxxxx`` from an incident's first complaint (time may be missing)."""
    ts = pd.Timestamp(first_time) if first_time is not None and not pd.isna(first_time) else None
    day = ts.strftime("%Y%m%d") if ts is not None else "00000000"
    return f"INC-{day}-{hashlib.sha1(str(first_id).encode()).hexdigest()[:8]}"


def _compatible(a: str, b: str) -> bool:
    return not a or not b or a == b


@dataclass
class _Docs:
    """Column arrays of the documents being grouped (existing members first, then new)."""

    ids: list[str]
    times: np.ndarray  # float days since epoch, NaN when unknown
    texts: list[str]
    categories: list[str]
    districts: list[str]
    anchors: list[str]
    anchor_levels: list[str]
    places: list[list[str]]
    terms: list[list[str]]
    callers: list[str]
    incidents: list[str | None]


def _docs(frame: pd.DataFrame) -> _Docs:
    n = len(frame)

    def col(name: str, default: Any = "") -> list[Any]:
        return frame[name].tolist() if name in frame.columns else [default] * n

    def s(v: Any) -> str:
        return "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)

    times = pd.to_datetime(pd.Series(col("time", None)), errors="coerce")
    days = (times - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1)
    if "joined" in frame.columns:
        texts = [s(v) for v in frame["joined"]]
    else:
        from nlp.text import join_title_text

        texts = [join_title_text(s(t), s(x)) for t, x in zip(col("title"), col("text"), strict=True)]
    return _Docs(
        ids=[s(v) for v in col("id")],
        times=days.to_numpy(dtype=float),
        texts=texts,
        categories=[s(v) for v in col("category")],
        districts=[s(v) for v in col("district")],
        anchors=[s(v) for v in col("anchor")],
        anchor_levels=[s(v) for v in col("anchor_level")],
        places=[as_list(v) for v in col("places", None)],
        terms=[as_list(v) for v in col("terms", None)],
        callers=[s(v) for v in col("caller")],
        incidents=[s(v) or None for v in col("incident_id", None)],
    )


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            # Smaller index as root keeps results independent of the order links are found.
            if ra < rb:
                self.parent[rb] = ra
            else:
                self.parent[ra] = rb


class IncidentGrouper:
    """Links complaints and assigns them to incidents; see the module docstring.

    ``embed`` is an optional callable ``texts -> np.ndarray`` of L2-normalised sentence
    embeddings (e.g. :class:`events.embeddings.E5Embedder`).
    """

    def __init__(
        self,
        config: GroupingConfig | None = None,
        *,
        embed: Any = None,
        reference_terms: Sequence[Sequence[str]] | None = None,
    ) -> None:
        self.config = config or GroupingConfig()
        self.embed = embed
        # Terms of other complaints (e.g. the store's most recent ones) that the word weights are
        # learned on together with each batch; see tfidf_matrix.
        self.reference_terms = reference_terms
        if self.config.method == "embedding" and embed is None:
            raise ConfigError(
                "method 'embedding' needs an embedding model: pass embed (an events run: embed_model)"
            )

    # -- features -------------------------------------------------------------------------------

    def _features(self, docs: _Docs) -> dict[str, Any]:
        cfg = self.config
        feats: dict[str, Any] = {"tfidf": tfidf_matrix(docs.terms, reference=self.reference_terms)}
        self._problem_features(docs, feats)
        if cfg.method in ("combined", "minhash", "place+minhash"):
            feats["minhash"] = minhashes(docs.texts, cfg)
        if self.embed is not None and cfg.method in ("combined", "embedding"):
            feats["embedding"] = np.asarray(self.embed(docs.texts), dtype=np.float32)
        return feats

    def _problem_features(self, docs: _Docs, feats: dict[str, Any]) -> None:
        """``problem``: TF-IDF rows without each prolific caller's habitual words (see the module
        docstring), the plain matrix when there is none; ``prolific``: those callers."""
        cfg = self.config
        problem, prolific = caller_problem_terms(
            docs.terms, docs.callers, cfg.caller_style_min, cfg.caller_style_share
        )
        feats["prolific"] = prolific
        feats["problem"] = (
            tfidf_matrix(problem, reference=self.reference_terms) if prolific else feats["tfidf"]
        )

    def pair_features(self, frame: pd.DataFrame, pairs: Sequence[tuple[str, str]]) -> pd.DataFrame:
        """Every similarity for the given (id, id) pairs, no blocking (for evaluation)."""
        docs = _docs(frame)
        cfg = self.config
        feats = {
            "tfidf": tfidf_matrix(docs.terms, reference=self.reference_terms),
            "minhash": minhashes(docs.texts, cfg),
        }
        self._problem_features(docs, feats)
        if self.embed is not None:
            feats["embedding"] = np.asarray(self.embed(docs.texts), dtype=np.float32)
        index = {d: i for i, d in enumerate(docs.ids)}
        ii = np.array([index[str(a)] for a, _ in pairs], dtype=int)
        jj = np.array([index[str(b)] for _, b in pairs], dtype=int)
        table = self._pair_table(docs, feats, ii, jj)
        table.insert(0, "id_b", [str(b) for _, b in pairs])
        table.insert(0, "id_a", [str(a) for a, _ in pairs])
        return table

    def _pair_table(self, docs: _Docs, feats: dict[str, Any], ii: np.ndarray, jj: np.ndarray) -> pd.DataFrame:
        """Similarities and agreements of index pairs (ii[k], jj[k]), computed in bulk."""
        x = feats["tfidf"]
        n = len(ii)
        cos = np.asarray(x[ii].multiply(x[jj]).sum(axis=1)).ravel() if n else np.zeros(0)
        mh = feats.get("minhash")
        if mh is not None and n:
            hv = feats.get("_hv")
            if hv is None:
                hv = feats["_hv"] = np.stack([m.hashvalues for m in mh])
            jac = (hv[ii] == hv[jj]).mean(axis=1)
        else:
            jac = np.full(n, np.nan)
        prolific = feats.get("prolific", set())
        same_caller = np.array(
            [
                docs.callers[i] in prolific and docs.callers[i] == docs.callers[j]
                for i, j in zip(ii, jj, strict=True)
            ],
            dtype=bool,
        )
        prob = feats.get("problem", x)
        # One prolific caller: similarity without their habitual words; otherwise the plain one.
        pcos = cos.copy()
        if same_caller.any():
            si, sj = ii[same_caller], jj[same_caller]
            pcos[same_caller] = np.asarray(prob[si].multiply(prob[sj]).sum(axis=1)).ravel()
        emb = feats.get("embedding")
        ecos = np.einsum("ij,ij->i", emb[ii], emb[jj]) if emb is not None and n else np.full(n, np.nan)
        days = np.abs(docs.times[ii] - docs.times[jj]) if n else np.zeros(0)
        rel, coarse, conflict, same_d, same_c = [], [], [], [], []
        for i, j in zip(ii.tolist(), jj.tolist(), strict=True):
            r = place_relation(docs.anchors[i], docs.places[i], docs.anchors[j], docs.places[j])
            rel.append(r)
            conflict.append(not r and bool(docs.anchors[i]) and bool(docs.anchors[j]))
            coarse.append(
                r == "anchor" and {docs.anchor_levels[i], docs.anchor_levels[j]} <= {"road", "street"}
            )
            same_d.append(_compatible(docs.districts[i], docs.districts[j]))
            same_c.append(_compatible(docs.categories[i], docs.categories[j]))
        return pd.DataFrame(
            {
                "tfidf": np.asarray(cos, dtype=float),
                "problem_tfidf": np.asarray(pcos, dtype=float),
                "prolific_caller": same_caller,
                "minhash": np.asarray(jac, dtype=float),
                "embedding": np.asarray(ecos, dtype=float),
                "days_apart": np.asarray(days, dtype=float),
                "place": rel,
                "coarse_place": coarse,
                "place_conflict": conflict,
                "same_district": same_d,
                "same_category": same_c,
            }
        )

    def decide_table(self, table: pd.DataFrame, method: str | None = None) -> np.ndarray:
        """:meth:`decide` for every row of a pair table (an array of link names, ``""`` = none)."""
        return np.array([self.decide(f, method) for f in table.to_dict(orient="records")], dtype=object)

    def decide(self, f: dict[str, Any], method: str | None = None) -> str:
        """The link type that joins a pair (``""`` if none) under ``method``."""
        cfg = self.config
        method = method or cfg.method
        days = f["days_apart"]
        if not (math.isnan(days) or days <= cfg.window_days) or not f["same_district"]:
            return ""
        if f["place_conflict"]:
            # Both name a place and the places differ: different incidents even when the text is a
            # template with the place swapped (seen on the message board: one text posted for
            # 魅力之城 and for 润芳园).
            return ""
        # Problem similarity: for one caller's own complaints, without their habitual words.
        sim = f.get("problem_tfidf", f["tfidf"])
        sim = f["tfidf"] if sim is None or math.isnan(sim) else float(sim)
        same_caller = bool(f.get("prolific_caller", False))
        # One caller's messages share their boilerplate (self-introduction, address): near-duplicate
        # by characters is a re-post only when almost identical or about the same problem.
        if (
            method in ("combined", "minhash", "place+minhash")
            and f["minhash"] >= cfg.minhash_threshold
            and (not same_caller or f["minhash"] >= cfg.repost_minhash or sim >= cfg.place_threshold)
        ):
            return "minhash"
        place_ok = bool(f["place"])
        # Different categories (mostly predicted; one incident is often filed under two, a burst
        # main under 供水 and 道路交通) ask for more similar words, never forbid the link.
        penalty = 0.0 if f["same_category"] else cfg.category_penalty
        if method in ("combined", "place", "place+minhash") and place_ok:
            threshold = cfg.coarse_place_threshold if f["coarse_place"] else cfg.place_threshold
            if same_caller:
                # The place two complaints of one prolific caller share is often just their home.
                threshold = max(threshold, cfg.same_caller_threshold)
            if sim >= threshold + penalty:
                return "place"
        if method in ("combined", "text") and sim >= cfg.text_threshold + penalty:
            return "text"
        e = f["embedding"]
        e_pen = 0.0 if f["same_category"] else cfg.embedding_category_penalty
        if (
            method in ("combined", "embedding")
            and not math.isnan(e)
            and (
                e >= cfg.embedding_threshold + e_pen
                or (place_ok and e >= cfg.embedding_place_threshold + e_pen)
            )
        ):
            return "embedding"
        return ""

    # -- candidates -----------------------------------------------------------------------------

    def _candidates(self, docs: _Docs, feats: dict[str, Any], new: np.ndarray) -> set[tuple[int, int]]:
        """Index pairs (i < j) worth scoring; at least one of each pair is new."""
        cfg = self.config
        n = len(docs.ids)
        cands: set[tuple[int, int]] = set()

        def add(i: int, j: int) -> None:
            if i == j or not (new[i] or new[j]):
                return
            cands.add((i, j) if i < j else (j, i))

        mh = feats.get("minhash")
        if mh is not None:
            from datasketch import MinHashLSH

            lsh = MinHashLSH(threshold=cfg.minhash_threshold, num_perm=cfg.num_perm)
            for i, m in enumerate(mh):
                lsh.insert(str(i), m)
            for i in np.flatnonzero(new):
                for key in lsh.query(mh[i]):
                    add(int(i), int(key))
        # Place blocks: every name a document mentions, by its last three characters (anchors
        # match when one ends with the other and the shorter has at least three characters).
        if cfg.method in ("combined", "place", "place+minhash", "embedding"):
            blocks: dict[str, list[int]] = defaultdict(list)
            for i in range(n):
                names = {docs.anchors[i], *docs.places[i]} - {""}
                for name in names:
                    blocks[name[-3:]].append(i)
            for members in blocks.values():
                if len(members) > 1:
                    ordered = sorted(set(members), key=lambda k: (np.nan_to_num(docs.times[k], nan=-1e9), k))
                    self._window_pairs(docs, ordered, add)
        # Text and embedding similarity without a shared place: time-windowed blocks of rows.
        thresholds = []
        if cfg.method in ("combined", "text"):
            thresholds.append(("tfidf", cfg.text_threshold))
        if "embedding" in feats:
            thresholds.append(("embedding", min(cfg.embedding_threshold, cfg.embedding_place_threshold)))
        for name, thr in thresholds:
            self._similar_pairs(docs, feats[name], thr, new, add)
        return cands

    def _window_pairs(self, docs: _Docs, ordered: list[int], add: Any) -> None:
        w = self.config.window_days
        times = docs.times
        for a in range(len(ordered)):
            i = ordered[a]
            for b in range(a + 1, len(ordered)):
                j = ordered[b]
                if not (math.isnan(times[i]) or math.isnan(times[j])) and times[j] - times[i] > w:
                    break
                add(i, j)

    def _similar_pairs(self, docs: _Docs, matrix: Any, threshold: float, new: np.ndarray, add: Any) -> None:
        w = self.config.window_days
        times = np.nan_to_num(docs.times, nan=0.0)
        order = np.argsort(times, kind="stable")
        sorted_times = times[order]
        new_rows = [k for k in order if new[k]]
        block = 512
        for start in range(0, len(new_rows), block):
            rows = np.array(new_rows[start : start + block])
            lo = np.searchsorted(sorted_times, times[rows].min() - w, side="left")
            hi = np.searchsorted(sorted_times, times[rows].max() + w, side="right")
            cols = order[lo:hi]
            sims = matrix[rows] @ matrix[cols].T
            sims = sims.toarray() if hasattr(sims, "toarray") else np.asarray(sims)
            ri, ci = np.nonzero(sims >= threshold)
            for r, c in zip(ri, ci, strict=True):
                i, j = int(rows[r]), int(cols[c])
                if abs(docs.times[i] - docs.times[j]) <= w or math.isnan(docs.times[i] - docs.times[j]):
                    add(i, j)

    # -- assignment -----------------------------------------------------------------------------

    def links(self, frame: pd.DataFrame) -> pd.DataFrame:
        """All links among the complaints of ``frame`` (treated as new): id_a, id_b, link, scores."""
        docs = _docs(frame)
        feats = self._features(docs)
        new = np.ones(len(docs.ids), dtype=bool)
        pairs = sorted(self._candidates(docs, feats, new))
        ii = np.array([p[0] for p in pairs], dtype=int)
        jj = np.array([p[1] for p in pairs], dtype=int)
        table = self._pair_table(docs, feats, ii, jj)
        table.insert(0, "link", self.decide_table(table))
        table.insert(0, "id_b", [docs.ids[j] for j in jj])
        table.insert(0, "id_a", [docs.ids[i] for i in ii])
        return table[table["link"] != ""].reset_index(drop=True)

    def assign(self, new_frame: pd.DataFrame, existing: pd.DataFrame | None = None) -> pd.DataFrame:
        """Incident of each new complaint: columns ``id``, ``incident_id``, ``is_new_incident``,
        ``similarity`` (strongest link score, 1.0 for an incident's first complaint) and ``link``.

        ``new_frame`` has ``id``, ``time``, ``title``/``text`` (or ``joined``), ``category``,
        ``district``, ``anchor``, ``anchor_level``, ``places``, ``terms``; ``existing`` the same
        plus ``incident_id`` for members of open incidents (from
        :meth:`events.store.incidents.IncidentRepository.grouping_candidates`).
        """
        if existing is not None and len(existing):
            existing = existing[~existing["id"].astype(str).isin(set(new_frame["id"].astype(str)))]
            frame = pd.concat([existing, new_frame.assign(incident_id=None)], ignore_index=True)
            n_old = len(existing)
        else:
            frame = new_frame.assign(incident_id=None).reset_index(drop=True)
            n_old = 0
        docs = _docs(frame)
        n = len(docs.ids)
        new = np.zeros(n, dtype=bool)
        new[n_old:] = True
        feats = self._features(docs)
        uf = _UnionFind(n)
        best_link: dict[int, tuple[float, str]] = {}
        to_existing: dict[int, dict[str, float]] = defaultdict(dict)  # new doc -> incident -> score
        pairs = sorted(self._candidates(docs, feats, new))
        ii = np.array([p[0] for p in pairs], dtype=int)
        jj = np.array([p[1] for p in pairs], dtype=int)
        table = self._pair_table(docs, feats, ii, jj)
        decisions = self.decide_table(table)
        records = table.to_dict(orient="records")
        for k in np.flatnonzero(decisions != ""):
            i, j, link = int(ii[k]), int(jj[k]), str(decisions[k])
            score = _link_score(records[k], link)
            for k in (i, j):
                if new[k] and score > best_link.get(k, (-1.0, ""))[0]:
                    best_link[k] = (score, link)
            if new[i] and new[j]:
                uf.union(i, j)
            else:
                k_new, k_old = (i, j) if new[i] else (j, i)
                inc = docs.incidents[k_old]
                if inc:
                    to_existing[k_new][inc] = max(to_existing[k_new].get(inc, 0.0), score)
        groups: dict[int, list[int]] = defaultdict(list)
        for k in range(n_old, n):
            groups[uf.find(k)].append(k)
        out = []
        for members in groups.values():
            scores: Counter[str] = Counter()
            for k in members:
                for inc, sc in to_existing.get(k, {}).items():
                    scores[inc] = max(scores[inc], sc)
            if scores:
                target = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
                is_new = False
            else:
                first = min(members, key=lambda k: (_sort_time(docs.times[k]), docs.ids[k]))
                target = incident_id(_to_ts(docs.times[first]), docs.ids[first])
                is_new = True
            for k in members:
                sc, link = best_link.get(k, (1.0, "seed"))
                out.append(
                    {
                        "id": docs.ids[k],
                        "incident_id": target,
                        "is_new_incident": is_new,
                        "similarity": round(float(sc), 4),
                        "link": link,
                    }
                )
        return pd.DataFrame(out, columns=["id", "incident_id", "is_new_incident", "similarity", "link"])


def _link_score(f: Any, link: str) -> float:
    if link == "minhash":
        return float(f["minhash"])
    if link == "embedding":
        return float(f["embedding"])
    return float(f.get("problem_tfidf", f["tfidf"]))


def _sort_time(t: float) -> float:
    return -1e18 if math.isnan(t) else float(t)


def _to_ts(days: float) -> pd.Timestamp | None:
    if math.isnan(days):
        return None
    return pd.Timestamp("1970-01-01") + pd.Timedelta(days=float(days))
