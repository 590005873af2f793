"""Sentiment with VADER on the customer's latest message.

VADER is lexicon-based: no model to download, microseconds a message, and it reads caps, "!!!" and
negations, which is how angry support tickets are written. The analyzer is built once (its constructor
reads the lexicon shipped inside the package) and shared.
"""
from __future__ import annotations

from functools import lru_cache

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from bot.brain.text import strip_quoted

EMPATHY_BELOW = -0.3  # compound at or below this gets an empathetic opening (VADER "clearly negative")


@lru_cache(maxsize=1)
def _analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def sentiment(text: str) -> float:
    """VADER compound in [-1, 1] of the text without quoted history (an old angry quote is not today's mood)."""
    body = strip_quoted(text or "")
    if not body.strip():
        return 0.0
    return round(float(_analyzer().polarity_scores(body[:5000])["compound"]), 4)
