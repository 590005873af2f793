"""The intent model: a classifier behind a small interface, calibrated confidence and per-intent thresholds.

Why a LinearSVC over word 1-2-gram + char_wb 2-5-gram TF-IDF: on BANKING77 it beats TF-IDF + logistic
regression by ~6 points at a tenth of the fit time (bench/intent_accuracy.py). Its decision scores are not
probabilities, so confidence is a softmax over them with a temperature fitted on held-out history: that
keeps the argmax (accuracy) and makes "0.9" mean roughly nine in ten. The softmax has one more logit
fixed at 0, "none of these": a one-vs-rest SVM's score is above 0 when it says "this class", so a message
every class rejects (out of scope) gets a low confidence however the classes compare among themselves. The thresholds live here, not in
the policy, because they are a property of what the model learned; the policy only sets the precision
target they are calibrated to.

A later, stronger classifier implements `TextClassifier` and everything else stays as it is.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence

import numpy as np
from scipy.special import softmax
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

from bot.brain.records import Alternative, Prediction

TEMPERATURES = np.geomspace(0.5, 60.0, 60)
MIN_SUPPORT = 8  # held-out predictions an intent needs before it gets a threshold of its own
MIN_CONFIDENCE = 0.5  # floor: below it "none of these" is as likely as the intent, whatever history says


def with_background(raw: np.ndarray, temperature: float) -> np.ndarray:
    """Class probabilities from raw scores with the "none of these" logit at 0; rows sum to less than 1."""
    logits = np.column_stack([raw * temperature, np.zeros(len(raw))])
    return softmax(logits, axis=1)[:, :-1]


class TextClassifier(Protocol):
    classes: tuple[str, ...]

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> "TextClassifier": ...

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """Raw per-class scores, shape (n, len(classes)); higher is likelier."""
        ...


class TfidfSvmClassifier:
    def __init__(self, C: float = 1.0):
        self.C = C
        self.classes: tuple[str, ...] = ()
        self.pipeline = Pipeline([
            ("features", FeatureUnion([
                ("word", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
                ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2)),
            ])),
            ("svm", LinearSVC(C=C)),
        ])

    def fit(self, texts, labels):
        """Identical (text, label) rows are fitted once with their count as weight: the same objective, but
        liblinear's time grows badly with exact duplicates ("where is my order?" x 5,000 in a big history)."""
        counts: dict[tuple[str, str], int] = {}
        for t, y in zip(texts, labels):
            counts[(t, y)] = counts.get((t, y), 0) + 1
        rows = list(counts)
        weights = np.array([counts[r] for r in rows], dtype=float)
        self.pipeline.fit([t for t, _ in rows], [y for _, y in rows], svm__sample_weight=weights)
        self.classes = tuple(str(c) for c in self.pipeline.classes_)
        return self

    def scores(self, texts):
        s = self.pipeline.decision_function(list(texts))
        if s.ndim == 1:  # two classes: sklearn returns one column for the positive class
            s = np.column_stack([-s, s])
        return s


def fit_temperature(raw: np.ndarray, gold_idx: np.ndarray) -> float:
    """The temperature minimising held-out negative log-likelihood (grid search: robust, no optimiser)."""
    best_t, best_nll = 1.0, np.inf
    rows = np.arange(len(gold_idx))
    for t in TEMPERATURES:
        p = with_background(raw, t)
        nll = -np.mean(np.log(np.clip(p[rows, gold_idx], 1e-12, None)))
        if nll < best_nll:
            best_t, best_nll = float(t), nll
    return best_t


def precision_threshold(conf: np.ndarray, correct: np.ndarray, target: float) -> float | None:
    """Lowest confidence t such that predictions with confidence >= t reach `target` precision.

    None when there are too few predictions to say, or when all of them together already reach the target
    (then held-out history puts no constraint on it: the lowest confidence seen is chance, not evidence).
    1.0 when even the most confident fall short: the intent is then never answered automatically, which is
    the honest outcome of the precision target.
    """
    if len(conf) < MIN_SUPPORT or correct.mean() >= target:
        return None
    order = np.argsort(-conf)
    c, ok = conf[order], correct[order].astype(float)
    precision = np.cumsum(ok) / np.arange(1, len(ok) + 1)
    # Only the last position of a run of equal confidences is a real cut: "confidence >= t" takes the run whole.
    cut = np.append(c[1:] != c[:-1], True)
    reaching = np.nonzero((precision >= target) & cut)[0]
    if len(reaching) == 0:
        return 1.0
    return float(c[reaching[-1]])


@dataclass
class IntentModel:
    """Classifier + temperature + thresholds: what `bot train` persists and the brain predicts with."""
    classifier: TextClassifier
    temperature: float = 1.0
    thresholds: dict[str, float] = field(default_factory=dict)
    default_threshold: float = 0.5
    top_k: int = 3

    @property
    def classes(self) -> tuple[str, ...]:
        return self.classifier.classes

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        return with_background(self.classifier.scores(texts), self.temperature)

    def calibrate(self, texts: Sequence[str], labels: Sequence[str], target_precision: float) -> dict:
        """Fit temperature and per-intent thresholds on held-out texts; returns held-out figures."""
        index = {c: i for i, c in enumerate(self.classes)}
        keep = [i for i, y in enumerate(labels) if y in index]
        texts = [texts[i] for i in keep]
        gold = np.array([index[labels[i]] for i in keep])
        raw = self.classifier.scores(texts)
        self.temperature = fit_temperature(raw, gold)
        p = with_background(raw, self.temperature)
        pred, conf = p.argmax(axis=1), p.max(axis=1)
        correct = pred == gold
        pooled = precision_threshold(conf, correct, target_precision)
        self.default_threshold = max(MIN_CONFIDENCE, pooled or 0.0)
        self.thresholds = {}
        for c, i in index.items():
            mine = pred == i
            t = precision_threshold(conf[mine], correct[mine], target_precision)
            if t is None and mine.sum() >= MIN_SUPPORT:
                t = MIN_CONFIDENCE  # enough evidence, no errors to correct for
            self.thresholds[c] = self.default_threshold if t is None else max(MIN_CONFIDENCE, t)
        answered = conf >= np.array([self.thresholds[self.classes[k]] for k in pred])
        return {
            "heldout": len(gold),
            "accuracy": float(correct.mean()) if len(gold) else 0.0,
            "answered_share": float(answered.mean()) if len(gold) else 0.0,
            "answered_precision": float(correct[answered].mean()) if answered.any() else 0.0,
            "temperature": self.temperature,
        }

    def threshold(self, intent: str) -> float:
        return self.thresholds.get(intent, self.default_threshold)

    def predict_many(self, texts: Sequence[str]) -> list[Prediction]:
        probs = self.probabilities(texts)
        out = []
        for row in probs:
            order = np.argsort(-row)[: self.top_k]
            best = self.classes[order[0]]
            conf = float(row[order[0]])
            t = self.threshold(best)
            out.append(Prediction(
                intent=best, confidence=round(conf, 4), out_of_scope=conf < t, threshold=round(t, 4),
                alternatives=tuple(Alternative(self.classes[k], round(float(row[k]), 4)) for k in order[1:]),
            ))
        return out

    def predict(self, text: str) -> Prediction:
        return self.predict_many([text])[0]
