import pytest
from hypothesis import given, settings, strategies as st

from bot.brain.text import clean_for_model, html_to_text, normalise, redact, split_sections, strip_quoted

# --- html_to_text -----------------------------------------------------------------------------------


def test_html_blocks_become_lines_and_entities_unescape():
    html = "<div>Hello&nbsp;&amp;   welcome</div><p>Second\n   para</p>line<br>break<h2>Title</h2>"
    assert html_to_text(html) == "Hello & welcome\nSecond para\nline\nbreak\nTitle"


def test_html_ordered_list_keeps_numbers_and_unordered_gets_dashes():
    html = "<ol><li>Open settings</li><li>Click <b>Reset</b></li></ol><ul><li>one<li>two</ul>"
    assert html_to_text(html) == "1. Open settings\n2. Click Reset\n- one\n- two"


def test_html_ordered_list_start_and_nesting():
    html = '<ol start="3"><li>c<ul><li>x</li></ul></li><li>d</li></ol>'
    assert html_to_text(html) == "3. c\n- x\n4. d"


def test_html_drops_script_and_style():
    html = "<style>p{color:red}</style><p>Visible</p><script>alert('x')</script><title>T</title>"
    assert html_to_text(html) == "Visible"


def test_html_table_rows_are_lines():
    assert html_to_text("<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>") == "a b\nc"


def test_html_malformed_does_not_raise():
    for bad in ["<p>unclosed <b>bold", "<<<>>>", "</li></ol>stray", "<![CDATA[x", "<a href='x", "&#99999999;", "<!--"]:
        assert isinstance(html_to_text(bad), str)


def test_html_blockquote_is_quoted_for_strip_quoted():
    html = "<p>New question</p><div>On Mon, Jan 1, 2024 at 10:00 AM Jane wrote:</div><blockquote>Old answer</blockquote>"
    assert strip_quoted(html_to_text(html)) == "New question"
    assert strip_quoted(html_to_text("<p>Mine</p><blockquote><p>theirs</p></blockquote>")) == "Mine"


# --- split_sections ---------------------------------------------------------------------------------


def test_split_sections_at_headings():
    html = ("<p>Intro text</p><h2>Reset your password</h2><p>Go to <a href='#'>Settings</a>.</p>"
            "<h3>If it fails</h3><ol><li>Clear cache</li></ol><h5>Note</h5><p>small</p>")
    assert split_sections(html) == [
        ("", "Intro text"),
        ("Reset your password", "Go to Settings."),
        ("If it fails", "1. Clear cache\nNote\nsmall"),
    ]


def test_split_sections_omits_empty_intro_and_handles_unclosed_heading():
    assert split_sections("<h1>Only</h1><p>body</p>") == [("Only", "body")]
    assert split_sections("<h2>Title<p>body</p>") == [("Title", "body")]
    assert split_sections("") == []


# --- strip_quoted -----------------------------------------------------------------------------------


@pytest.mark.parametrize("quote", [
    "On Mon, Jan 1, 2024 at 10:00 AM Jane Doe <jane@example.com> wrote:\n> Old message",
    "On Mon, Jan 1, 2024 at 10:00 AM Jane Doe <\njane@example.com> wrote:\n> Old message",
    "Le lun. 1 janv. 2024 à 10:00, Jane <jane@example.fr> a écrit :\n> Vieux",
    "Am 01.02.2024 um 10:00 schrieb Jane Doe <jane@example.de>:\n> Alt",
    "> Old message\n> more",
    "-----Original Message-----\nFrom: Support\nOld message",
    "---------- Forwarded message ---------\nFrom: Jane <jane@example.com>\nOld",
    "From: Support <support@example.com>\nSent: Monday, January 1, 2024 10:00 AM\nTo: me\nSubject: RE: x",
    "From: Support <s@example.com> Sent: Monday, January 1, 2024 To: me",
    "Sent from my iPhone",
    "-- \nJane Doe\nHead of Stuff",
])
def test_strip_quoted_removes_reply_variants(quote):
    assert strip_quoted(f"My refund never arrived.\n\n{quote}\nTrailing junk") == "My refund never arrived."


@pytest.mark.parametrize("closing", ["Thanks,\nJane", "Best regards,\nJane Doe\nAcme Inc", "Cheers,\nBob",
                                     "Thank you!", "Kind regards", "Thanks in advance,\nJ. Smith"])
def test_strip_quoted_removes_closing_signatures(closing):
    assert strip_quoted(f"The app crashes on login.\n\n{closing}") == "The app crashes on login."


def test_strip_quoted_keeps_thanks_but_request():
    text = "Thanks, but the refund never arrived.\nCan you check?\nThanks,\nJane"
    assert strip_quoted(text) == "Thanks, but the refund never arrived.\nCan you check?"
    assert strip_quoted("Hi,\nThanks, but the refund never arrived") == "Thanks, but the refund never arrived"


def test_strip_quoted_closing_only_near_the_end():
    text = "Question one.\nThanks\nSecond paragraph.\nThird.\nFourth.\nFifth line is here."
    assert strip_quoted(text) == text
    long_after = "Refund please.\nThanks!\n" + "Also the invoice shows the wrong VAT number and it needs to be fixed asap."
    assert strip_quoted(long_after) == long_after


@pytest.mark.parametrize("greeting", ["Hi,", "Hello team,", "Hey there", "Dear Support,", "Good morning!",
                                      "Hi Jane,", "Hello,\nHi again,"])
def test_strip_quoted_removes_leading_greeting(greeting):
    assert strip_quoted(f"{greeting}\nI cannot log in.") == "I cannot log in."


def test_strip_quoted_greeting_on_same_line_and_lookalikes():
    assert strip_quoted("Hi, I cannot log in.") == "I cannot log in."
    assert strip_quoted("Hey there I cannot log in.") == "I cannot log in."
    assert strip_quoted("History export is broken") == "History export is broken"
    assert strip_quoted("Hello") == ""


def test_strip_quoted_bottom_posting_keeps_the_reply():
    assert strip_quoted("> Old answer\n> more\n\nStill broken.") == "Still broken."
    fwd = "---------- Forwarded message ---------\nFrom: Bob <b@x.com>\nDate: Mon, 1 Jan 2024\nTo: me\n\nThe request"
    assert strip_quoted(fwd) == "The request"


def test_strip_quoted_attribution_without_date_is_text():
    assert strip_quoted("On Monday my colleague wrote:\nit works") == "On Monday my colleague wrote:\nit works"


# --- normalise --------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw, token", [
    ("mail Jane.Doe@Example.com now", "emailtoken"),
    ("see https://example.com/a?b=1 now", "urltoken"),
    ("see www.example.com now", "urltoken"),
    ("paid $12.50 now", "amounttoken"),
    ("paid 12,50 € now", "amounttoken"),
    ("paid EUR 30 now", "amounttoken"),
    ("paid 30 dollars now", "amounttoken"),
    ("order 123456 now", "ordertoken"),
    ("order ORD-12345 now", "ordertoken"),
    ("order #12345 now", "ordertoken"),
    ("call +1 415 555 0100 now", "phonetoken"),
    ("call (415) 555-0100 now", "phonetoken"),
    ("call 07700 900123 now", "phonetoken"),
    ("card 4111 1111 1111 1111 now", "cardtoken"),
])
def test_normalise_tokens(raw, token):
    assert normalise(raw) == f"{raw.split()[0].lower()} {token} now"


def test_normalise_keeps_small_numbers_dates_and_lowercases():
    assert normalise("I have 3 Kids and   2 DOGS since 2024-01-15") == "i have 3 kids and 2 dogs since 2024-01-15"
    assert normalise("Ｆｕｌｌｗｉｄｔｈ １２３") == "fullwidth 123"


def test_normalise_strips_quotes_first():
    assert normalise("Hi,\nWhere is ORD-99999?\n\nOn Mon, Jan 1, 2024, Bob wrote:\n> a@b.com") == "where is ordertoken ?"


# --- redact -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("secret, placeholder", [
    ("Jane.Doe@Example.com", "[email]"),
    ("+1 415 555 0100", "[phone]"),
    ("(415) 555-0100", "[phone]"),
    ("$12.50", "[amount]"),
    ("30 EUR", "[amount]"),
    ("ORD-12345", "[number]"),
    ("9876543", "[number]"),
    ("4111 1111 1111 1111", "[card]"),
    ("4111-1111-1111-1111", "[card]"),
    ("4111111111111111", "[card]"),
])
def test_redact_classes(secret, placeholder):
    out = redact(f"Customer Wrote: {secret} please")
    assert secret not in out
    assert out == f"Customer Wrote: {placeholder} please"


def test_redact_url_query_and_one_line():
    out = redact("Reset via https://example.com/reset?token=s3cr3t&u=1\nthanks")
    assert "s3cr3t" not in out and "https://example.com/reset?[query]" in out and "\n" not in out


def test_redact_truncates():
    assert redact("a" * 500) == "a" * 199 + "…"
    assert len(redact("word " * 100, limit=80)) <= 80
    assert redact("short") == "short"
    assert redact("b" * 500, limit=None) == "b" * 500


# --- clean_for_model --------------------------------------------------------------------------------


def test_clean_for_model_html_and_plain():
    html = "<p>Hello,</p><p>Where is my <b>refund</b> of $20?</p><p>Thanks,<br>Jane</p>"
    assert clean_for_model("Re: Refund", html) == "refund . where is my refund of amounttoken ?"
    assert clean_for_model("", "I <3 your app") == "i <3 your app"
    assert clean_for_model("Login", "") == "login"


# --- properties -------------------------------------------------------------------------------------

_TAGS = ["<p>", "</p>", "<div>", "<br>", "<br/>", "<ol>", "</ol>", "<ul>", "<li>", "</li>", "<h2>", "</h2>", "<h1 x=",
         "<script>", "</script>", "<style>", "<blockquote>", "</blockquote>", "<pre>", "&amp;", "&#", "<!--", "<", ">", "\n"]
htmlish = st.lists(st.one_of(st.sampled_from(_TAGS), st.text(max_size=10)), max_size=30).map("".join)
mailish = st.lists(st.one_of(st.sampled_from(["Hi,", "Thanks,", "> ", "On 1 Jan Bob wrote:", "-- ", "\n", "From: a",
                                              "Sent: b", "Sent from my iPhone", "Jane", "Hello", "$", "€", "+1 ", "#",
                                              "EUR", "@", ".com", "-", " ", "ORD-", "("]),
                             st.text(alphabet="0123456789 .,-+()$€#@abx\n", max_size=12)), max_size=25).map("".join)
_FUNCS = [html_to_text, split_sections, strip_quoted, normalise, redact, lambda s: clean_for_model(s, s)]


@settings(max_examples=300)
@given(st.one_of(st.text(), htmlish, mailish))
def test_nothing_raises(s):
    for f in _FUNCS:
        f(s)


@settings(max_examples=300)
@given(st.emails(), st.text(max_size=20), st.text(max_size=20))
def test_redact_removes_emails(email, before, after):
    assert email not in redact(f"{before} {email} {after}", limit=None)
    assert email not in redact(f"contact:{email}.")


@settings(max_examples=500)
@given(st.one_of(st.text(), mailish, htmlish))
def test_normalise_idempotent(s):
    once = normalise(s)
    assert normalise(once) == once
