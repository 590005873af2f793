"""Unlabelled tickets grouped into candidate new ticket types (method steps 1 and 6: emerging types).

TF-IDF over the cleaned ticket text (subject and first customer message), k-means with k chosen by the
cosine silhouette over a small range, on at most MAX_SAMPLE tickets; every other ticket is assigned to its
nearest centroid, so the cost grows with the sample, not the history. Clusters with close centroids are
then merged (see `merge_close`), and tickets far from every centroid are left out rather than forced in.
Support filler ("I need help to", "how do I") is the same in every type and would make the clusters about
phrasing, so it is a stop word.

Before clustering, unlabelled tickets that read like a known type (closer to that type's centroid than
most of its own labelled tickets are) are set aside: they are tag hygiene, not a new type.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np
from scipy import sparse
from sklearn.cluster import AgglomerativeClustering, KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import normalize

MAX_SAMPLE = 5000
MAX_K = 10
MIN_CLUSTER = 5
MERGE_SIMILARITY = 0.4
MIN_SIMILARITY = 0.25  # a ticket less similar than this to its cluster's centroid belongs to no cluster
KNOWN_PERCENTILE = 10  # an unlabelled ticket as close to a type's centroid as 90% of its own tickets is that type
KNOWN_FLOOR = 0.2
SEED = 13

FILLER = frozenset("""help need want like know would could can cant cannot dont don didn doesn isn im ive id ill
hi hello hey thanks thank please pls assistance assist support trying try tell show let get got give make
way ways possible just really sure problem problems issue issues question questions info information
wanna gonna ya ur u yo hve ot ti ot mi hte im iam ihave ineed idk lot today yesterday""".split())
TOKENS = frozenset({"ordertoken", "amounttoken", "emailtoken", "urltoken", "phonetoken", "cardtoken"})
STOP = sorted(ENGLISH_STOP_WORDS | FILLER | TOKENS)


def vectorizer(min_df: int = 2, max_df: float = 0.9) -> TfidfVectorizer:
    return TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, stop_words=STOP, min_df=min_df, max_df=max_df,
                           token_pattern=r"(?u)\b[a-z][a-z]+\b", dtype=np.float32)


def fit_vectorizer(texts: Sequence[str]) -> Optional[TfidfVectorizer]:
    """A fitted vectorizer, or None when the texts hold no usable word at all."""
    for min_df, max_df in ((2, 0.9), (1, 0.9), (1, 1.0)):  # the last: every ticket says the same
        vec = vectorizer(min_df if len(texts) >= 20 else 1, max_df)
        try:
            vec.fit(texts)
            return vec
        except ValueError:  # empty vocabulary (every word a stop word, or max_df pruned everything)
            continue
    return None


def sample_index(n: int, cap: int, seed: int = SEED) -> np.ndarray:
    if n <= cap:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, cap, replace=False))


def nearest_known(lab_texts: Sequence[str], lab_labels: Sequence[str], texts: Sequence[str]) -> list[Optional[str]]:
    """For each text, the known type it reads like, or None (a candidate for a new type)."""
    out: list[Optional[str]] = [None] * len(texts)
    if not texts or not lab_texts:
        return out
    vec = fit_vectorizer(list(lab_texts) + list(texts))
    if vec is None:
        return out
    classes, y = np.unique(np.asarray(lab_labels, dtype=object).astype(str), return_inverse=True)
    X = vec.transform(lab_texts)
    onehot = sparse.csr_matrix((np.ones(len(y), dtype=np.float32), (y, np.arange(len(y)))),
                               shape=(len(classes), len(y)))
    centroids = normalize(onehot @ X)  # (classes, features): the mean direction of each type
    own = np.asarray((X.multiply(centroids[y])).sum(axis=1)).ravel()
    thr = np.full(len(classes), KNOWN_FLOOR, dtype=float)
    for c in range(len(classes)):
        mine = own[y == c]
        if len(mine) >= MIN_CLUSTER:
            thr[c] = max(KNOWN_FLOOR, float(np.percentile(mine, KNOWN_PERCENTILE)))
    sims = (vec.transform(texts) @ centroids.T).toarray()
    best = sims.argmax(axis=1)
    hit = sims[np.arange(len(best)), best] >= thr[best]
    return [str(classes[b]) if h else None for b, h in zip(best, hit)]


@dataclass
class Cluster:
    members: np.ndarray  # indices into the clustered texts
    terms: list[str]
    name: str
    examples: list[int]  # indices of the members closest to the centroid, distinct texts


@dataclass
class Clustering:
    k: int = 0
    silhouette: Optional[float] = None
    clusters: list[Cluster] = field(default_factory=list)
    reason: str = ""


def name_from_terms(terms: Sequence[str], words: int = 3) -> str:
    """Snake-case words of the top terms, the strongest two-word term first ("gift card" + "balance")."""
    out: list[str] = []
    pair = next((t for t in terms[:4] if " " in t), None)
    for t in ([pair] if pair else []) + list(terms):
        for w in t.split():
            if w not in out and len(out) < words:
                out.append(w)
    return "_".join(out) or "unnamed"


def cluster_texts(texts: Sequence[str], seed: int = SEED, max_sample: int = MAX_SAMPLE,
                  min_size: int = MIN_CLUSTER) -> Clustering:
    n = len(texts)
    if n < 2 * min_size:
        return Clustering(reason=f"only {n} unlabelled tickets to cluster (at least {2 * min_size} needed)")
    idx = sample_index(n, max_sample, seed)
    vec = fit_vectorizer([texts[i] for i in idx])
    if vec is None:
        return Clustering(reason="the unlabelled tickets have no distinctive words")
    Xs = vec.transform([texts[i] for i in idx])
    nz = np.asarray(Xs.getnnz(axis=1) > 0)
    Xs = Xs[nz]
    if Xs.shape[0] < 2 * min_size:
        return Clustering(reason="too few unlabelled tickets with distinctive words")
    best: tuple[float, Optional[KMeans]] = (-2.0, None)
    for k in range(2, min(MAX_K, Xs.shape[0] // min_size) + 1):
        with warnings.catch_warnings():  # duplicates leave fewer distinct points than k: not worth a warning
            warnings.simplefilter("ignore", ConvergenceWarning)
            km = KMeans(n_clusters=k, n_init=2, max_iter=100, random_state=seed).fit(Xs)
        if len(set(km.labels_)) < 2:
            continue
        s = float(silhouette_score(Xs, km.labels_, metric="cosine", sample_size=min(2000, Xs.shape[0]),
                                   random_state=seed))
        if s > best[0] + 1e-9:
            best = (s, km)
    X = vec.transform(texts)
    if best[1] is None:  # one topic only (k-means finds no two groups): one candidate, if it is one
        labels = np.zeros(len(texts), dtype=int)
    else:
        labels = merge_close(X, best[1].predict(X))
    labels[np.asarray(X.getnnz(axis=1) == 0)] = -1
    features = vec.get_feature_names_out()
    out = []
    for c in sorted(set(labels) - {-1}):
        members = np.nonzero(labels == c)[0]
        if len(members) < min_size:
            continue
        center = normalize(np.asarray(X[members].mean(axis=0))).ravel()
        closeness = np.asarray(X[members] @ center).ravel()
        keep = closeness >= MIN_SIMILARITY  # nearest centroid is not near: leave the stragglers out
        members, closeness = members[keep], closeness[keep]
        if len(members) < min_size:
            continue
        center = normalize(np.asarray(X[members].mean(axis=0))).ravel()
        examples, seen = [], set()
        for j in members[np.argsort(-closeness, kind="stable")]:
            if texts[j] not in seen:
                seen.add(texts[j])
                examples.append(int(j))
            if len(examples) == 3:
                break
        first = texts[examples[0]]  # equal weights: the word order of the most typical ticket decides

        def place(j: int) -> tuple:
            at = first.find(str(features[j]))
            return -round(float(center[j]), 6), at if at >= 0 else len(first)

        terms = [str(features[j]) for j in sorted(np.nonzero(center > 0)[0], key=place)[:6]]
        out.append(Cluster(members, terms, name_from_terms(terms), examples))
    out.sort(key=lambda cl: -len(cl.members))
    return Clustering(k=len(set(labels) - {-1}), silhouette=round(best[0], 3) if best[1] else None, clusters=out,
                      reason="" if out else "no group of similar unlabelled tickets")


def merge_close(X, labels: np.ndarray) -> np.ndarray:
    """k-means with k by silhouette splits one topic by its sub-phrasings ("gift card balance", "redeem a gift
    card"); clusters whose centroids are closer than MERGE_SIMILARITY (average linkage) become one."""
    ids = np.unique(labels)
    if len(ids) < 2:
        return labels
    centers = normalize(np.vstack([np.asarray(X[labels == c].mean(axis=0)) for c in ids]))
    merged = AgglomerativeClustering(n_clusters=None, metric="cosine", linkage="average",
                                     distance_threshold=1 - MERGE_SIMILARITY).fit_predict(centers)
    return merged[np.searchsorted(ids, labels)]
