"""When the bot stays out of a conversation: a human took part, it handed over, or the customer is done."""
import pytest

from bot.brain.guards import is_closing_message, leave_to_humans
from bot.brain.records import Message, Ticket


def _ticket(*messages, tags=()):
    return Ticket(id="1", vendor="zendesk", created_at="2026-09-01T10:00:00Z", tags=tags,
                  messages=tuple(Message(author=a, body=b, public=p) for a, b, p in messages))


@pytest.mark.parametrize("text", ["Thanks, that worked!", "thank you", "Got it, thank you so much, that worked!",
                                  "it worked, thanks", "ok great thanks a lot", "That fixed it"])
def test_closing_messages(text):
    assert is_closing_message(text)


@pytest.mark.parametrize("text", ["Thanks, but the refund never arrived", "ok thanks, any news?",
                                  "thanks in advance, where is my order?", "it worked yesterday but not today", ""])
def test_not_closing_messages(text):
    assert not is_closing_message(text)


def test_a_fresh_ticket_is_the_bots():
    assert leave_to_humans(_ticket(("customer", "where is my order", True))) is None


def test_an_internal_agent_note_does_not_take_the_ticket_away():
    assert leave_to_humans(_ticket(("customer", "where is my order", True), ("agent", "vip!", False))) is None


def test_escalated_agent_answered_or_solved_is_left_alone():
    assert "escalated" in leave_to_humans(_ticket(("customer", "x", True), tags=("bot_escalated",)))
    assert "agent" in leave_to_humans(_ticket(("customer", "x", True), ("agent", "done", True),
                                              ("customer", "still broken", True)))
    assert "solved" in leave_to_humans(_ticket(("customer", "x", True), ("bot", "steps", True),
                                               ("customer", "Thanks, that worked!", True)))
    # thanks before the bot said anything is just politeness in a first message
    assert leave_to_humans(_ticket(("customer", "thanks", True))) is None
