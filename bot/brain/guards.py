"""When the bot should not act at all on a ticket that is otherwise its to answer.

The vendor adapters guard against loops (the bot's own comments, agents' comments, auto-replies); these
guards are about the conversation: once a human has taken part, or the bot has handed the ticket over, or
the customer says it is solved, another bot message would only get in the way.
"""
from __future__ import annotations

import re
from typing import Optional

from bot.brain.records import Ticket

ESCALATED_TAG = "bot_escalated"  # the tag every escalation adds (decide.py)

_CLOSING = re.compile(
    r"^\W*(?:(?:ok(?:ay)?|great|perfect|awesome|brilliant|cool|got it|all good|that'?s? (?:it|all))\W+)*"
    r"(?:thanks?|thank\s+you|thx|ty|cheers|much appreciated)"
    r"(?:\W+(?:so\s+much|a\s+lot|very\s+much|again))?"
    r"(?:\W+(?:it|that|this)\s+(?:worked|works|helped|did\s+it|fixed\s+it|solved\s+it))?\W*$"
    r"|^\W*(?:(?:ok(?:ay)?|great|perfect|got it)\W+)?(?:it|that|this)\s+(?:worked|works|helped|fixed\s+it|solved\s+it)"
    r"(?:\W+(?:thanks?|thank\s+you)(?:\s+(?:so\s+much|a\s+lot))?)?\W*$",
    re.IGNORECASE,
)


def is_closing_message(text: str) -> bool:
    """"Thanks, that worked!" and the like: nothing left to answer."""
    return bool(_CLOSING.match(" ".join((text or "").split())[:200]))


def leave_to_humans(ticket: Ticket) -> Optional[str]:
    """A reason to leave the ticket alone, or None when the bot may act."""
    if ESCALATED_TAG in ticket.tags:
        return "escalated to a human earlier"
    if any(m.author == "agent" and m.public for m in ticket.messages):
        return "an agent has replied publicly on this ticket"
    replied = any(m.author == "bot" and m.public for m in ticket.messages)
    if replied and is_closing_message(ticket.latest_customer_text()):
        return "the customer says it is solved"
    return None
