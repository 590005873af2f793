"""ArticleIndex: help-center articles split into sections and retrieved by section.

Retrieval is by section, not article, because the reply quotes steps and a whole article is too long to
be an answer. TF-IDF cosine over words (1-2-grams) is enough at help-center sizes (hundreds of
sections) and gives a score in [0, 1] that means the same thing across queries, so one minimum works.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence
from urllib.parse import urlparse

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from bot.brain.records import Article, ArticleHit
from bot.brain.text import normalise, normalise_tokens, split_sections

# Below these no section answers the question: no answer rather than a wrong one. When the intents file
# names the intent's articles the admin vouches for them, so any overlap picks the section; across the
# whole help center a match has to be clear before the bot quotes it.
MIN_SCORE_NAMED = 0.01
MIN_SCORE_ANY = 0.3
PAGE_BOOST = 0.1  # the page the customer was on names the article's area


@dataclass(frozen=True)
class Section:
    article_id: str
    title: str
    heading: str
    text: str
    url: str
    area: frozenset[str]  # words from labels, section and category, matched against the page URL


def _words(*parts: str) -> frozenset[str]:
    return frozenset(w for p in parts for w in re.findall(r"[a-z]{3,}", (p or "").lower()))


class ArticleIndex:
    def __init__(self, articles: Iterable[Article]):
        self.articles = {a.id: a for a in articles if not a.draft}
        self.sections: list[Section] = []
        for a in self.articles.values():
            area = _words(*a.labels, a.section, a.category)
            for heading, text in split_sections(a.body_html) or [("", "")]:
                if text.strip():
                    self.sections.append(Section(a.id, a.title, heading, text, a.url, area))
        self._vectorizer: Optional[TfidfVectorizer] = None
        if self.sections:
            self._vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, stop_words="english")
            self._matrix = self._vectorizer.fit_transform(
                [normalise_tokens(f"{s.title} {s.heading} {s.heading} {s.text}") for s in self.sections])
        self._by_article: dict[str, list[int]] = {}
        for i, s in enumerate(self.sections):
            self._by_article.setdefault(s.article_id, []).append(i)

    def __len__(self) -> int:
        return len(self.sections)

    def search(self, query: str, article_ids: Sequence[str] = (), page_url: Optional[str] = None,
               min_score: Optional[float] = None) -> Optional[ArticleHit]:
        """The best section for the query, limited to `article_ids` when given; None when nothing is usable."""
        return self.search_many([(query, tuple(article_ids), page_url)], min_score)[0]

    def search_many(self, requests: Sequence[tuple[str, tuple, Optional[str]]],
                    min_score: Optional[float] = None) -> list[Optional[ArticleHit]]:
        """`search` for many (query, article_ids, page_url) at once: one vectorizer call per chunk, which is
        what makes a backtest over tens of thousands of tickets take seconds."""
        if self._vectorizer is None:
            return [None] * len(requests)
        out: list[Optional[ArticleHit]] = []
        for start in range(0, len(requests), 1024):
            chunk = requests[start:start + 1024]
            sims_all = (self._vectorizer.transform([normalise(q) for q, _, _ in chunk]) @ self._matrix.T).toarray()
            for (_, ids, page_url), sims in zip(chunk, sims_all):
                out.append(self._best(sims, ids, page_url, min_score))
        return out

    def _best(self, sims_all: np.ndarray, article_ids: Sequence[str], page_url: Optional[str],
              min_score: Optional[float]) -> Optional[ArticleHit]:
        if min_score is None:
            min_score = MIN_SCORE_NAMED if article_ids else MIN_SCORE_ANY
        rows = [i for a in article_ids for i in self._by_article.get(a, [])] if article_ids \
            else list(range(len(self.sections)))
        if not rows:
            return None
        sims = sims_all[rows]
        if page_url:
            page = _words(urlparse(page_url).path)
            sims = sims + np.array([PAGE_BOOST if page & self.sections[i].area else 0.0 for i in rows])
        best = int(np.argmax(sims))
        score = float(min(sims[best], 1.0))
        if score < min_score:
            return None
        s = self.sections[rows[best]]
        return ArticleHit(id=s.article_id, title=s.title, section=s.heading, score=round(score, 4), url=s.url,
                          text=s.text)
