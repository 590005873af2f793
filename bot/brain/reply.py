"""What the bot writes: the public reply, the clarifying question and the internal note for agents.

The reply quotes the article section rather than paraphrasing it, so it can only be as wrong as the help
center is (and the audit watches that). Steps keep their order and numbers. An empathetic opening only when
the customer is upset: a cheerful "So sorry!" on a calm how-to reads as a bot.
"""
from __future__ import annotations

import re
from typing import Optional, Sequence

from bot.brain.records import ArticleHit, Intent, Prediction, Ticket
from bot.brain.text import strip_quoted

EMPATHETIC_OPENING = "I'm sorry for the trouble, and thank you for your patience. Let's get this sorted."
MAX_SECTION_CHARS = 1500
NAME_GOALS_ABOVE = 0.1  # below this top confidence a clarifying question names no candidate goals


def humanise(intent_name: str) -> str:
    return intent_name.replace("_", " ")


def draft_reply(hit: ArticleHit, empathetic: bool) -> str:
    parts = [EMPATHETIC_OPENING] if empathetic else []
    heading = hit.section or hit.title
    parts.append(f"Here is how to do it, from our help center ({heading}):")
    body = hit.text.strip()
    if len(body) > MAX_SECTION_CHARS:
        cut = body[:MAX_SECTION_CHARS]
        body = cut[: cut.rfind("\n")] if "\n" in cut else cut
    parts.append(body)
    link = f"{hit.title}: {hit.url}" if hit.url else hit.title
    parts.append(f"The full article: {link}")
    parts.append("If this does not solve it, just reply and a member of our team will take over.")
    return "\n\n".join(parts)


_ABOUT_CUSTOMER = re.compile(r"^\s*(?:the\s+)?(?:customer|user|client|requester)\s+", re.I)
_THIRD_PERSON = {"their": "your", "they": "you", "them": "you", "themselves": "yourself", "theirs": "yours",
                 "his": "your", "her": "your", "he": "you", "she": "you"}
_IRREGULAR = {"is": "are", "has": "have", "does": "do", "was": "were"}


def _base_form(verb: str) -> str:
    low = verb.lower()
    if low in _IRREGULAR:
        return _IRREGULAR[low]
    if low.endswith("ies") and len(low) > 4:
        return low[:-3] + "y"
    if low.endswith(("ches", "shes", "sses", "xes")):
        return low[:-2]
    if low.endswith("s") and not low.endswith(("ss", "us", "is")):
        return low[:-1]
    return verb


def second_person(description: str) -> Optional[str]:
    """"The customer wants to reset their password and asks how." -> "want to reset your password and ask
    how"; None when the description is not written about the customer (the intent's name is used instead).
    Verbs after "and"/"or" are the customer's too, so they change with the first."""
    text = (description or "").strip().rstrip(".")
    if not _ABOUT_CUSTOMER.match(text):
        return None
    words = _ABOUT_CUSTOMER.sub("", text).split()
    if not words:
        return None
    out, slot = [], True
    for w in words:
        verb_slot, adverb = slot, w.lower().endswith("ly")
        w = _base_form(w) if verb_slot and not adverb else w
        slot = w.lower() in ("and", "or") or (verb_slot and adverb)  # "explicitly asks": the verb comes next
        out.append(_THIRD_PERSON.get(w.lower(), w))
    phrase = " ".join(out)
    phrase = re.sub(r"\bask about\b", "have a question about", phrase)
    return re.sub(r"\bask (whether|if|how|what|when|why|which|where)\b", r"want to know \1", phrase)


def clarifying_question(prediction: Prediction, intents: dict[str, Intent], empathetic: bool) -> str:
    """The intent's own question when it has one, else the two likeliest goals in plain words, addressed to
    the customer (never "I didn't understand": the customer did nothing wrong)."""
    opening = EMPATHETIC_OPENING + " " if empathetic else ""
    intent = intents.get(prediction.intent)
    if intent is not None and intent.ask and prediction.confidence >= prediction.threshold / 2:
        return opening + intent.ask
    if prediction.confidence < NAME_GOALS_ABOVE:
        # Nothing is even a fair guess: naming two unrelated goals would confuse more than it helps.
        return (f"{opening}Could you tell me a little more about what you are trying to do, and with which order "
                "or account? Then I can point you to the right answer or the right person.")
    names = [prediction.intent] + [a.intent for a in prediction.alternatives]
    options = []
    for n in names[:2]:
        phrase = second_person(intents[n].description) if n in intents else None
        options.append(f"that you {phrase}" if phrase else f"about {humanise(n)}")
    if len(options) == 2:
        return (f"{opening}So I can point you to the right answer: is it {options[0]}, or {options[1]}? "
                "A sentence more about what you are trying to do will help.")
    return f"{opening}Could you tell me a little more about what you are trying to do?"


def summary_line(ticket: Ticket, limit: int = 140) -> str:
    text = strip_quoted(ticket.latest_customer_text()) or ticket.subject
    first = re.split(r"(?<=[.!?])\s|\n", text.strip(), maxsplit=1)[0]
    line = f"{ticket.subject.strip()}: {first}" if ticket.subject and ticket.subject not in first else first
    return line if len(line) <= limit else line[: limit - 1] + "…"


def agent_note(ticket: Ticket, action: str, prediction: Prediction, sentiment: float,
               reasons: Sequence[str], hit: Optional[ArticleHit], priority: str, group: Optional[str]) -> str:
    """Everything an agent needs to take over without re-reading the thread or asking the customer again."""
    alts = ", ".join(f"{a.intent} ({a.confidence:.2f})" for a in prediction.alternatives) or "none"
    scope = " (out of scope)" if prediction.out_of_scope else ""
    lines = [
        f"Support bot: {action}. Summary: {summary_line(ticket)}",
        f"Intent: {prediction.intent} ({prediction.confidence:.2f}, threshold {prediction.threshold:.2f}){scope}",
        f"Alternatives: {alts}",
        f"Sentiment: {sentiment:.2f}",
        "Reasons: " + ("; ".join(reasons) if reasons else "none"),
        f"Article: {hit.title} > {hit.section} ({hit.score:.2f}) {hit.url}".rstrip() if hit else "Article: none",
        f"Page: {ticket.page_url or 'unknown'}",
        f"Requester: plan {ticket.requester.plan or 'unknown'}, vip {'yes' if ticket.requester.vip else 'no'}",
        f"Bot attempts so far: {ticket.attempts}",
        f"Priority: {priority}; group: {group or 'unchanged'}",
    ]
    return "\n".join(lines)
