"""Text cleaning for the model, the article index and the logs.

One set of compiled patterns serves `normalise` (the model's view) and `redact` (the logs' view), so a value the
model sees as a token is exactly a value the logs never see in clear. All of it is heuristics over hostile input:
no function raises, whatever the customer sent."""

import re
import unicodedata
from html import unescape
from html.parser import HTMLParser

__all__ = ["html_to_text", "split_sections", "strip_quoted", "normalise", "redact", "clean_for_model"]

_BLOCK = frozenset("p div br li h1 h2 h3 h4 h5 h6 tr ul ol table blockquote pre hr section article header "
                   "footer dd dt dl address figure figcaption main nav aside form fieldset details summary".split())
_SKIP = frozenset("script style title noscript template".split())
_SPLIT = frozenset("h1 h2 h3 h4".split())


class _Parser(HTMLParser):
    """Collects text per section; with no split tags everything lands in one section."""

    def __init__(self, split_at: frozenset = frozenset(), mark_quotes: bool = False):
        super().__init__(convert_charrefs=True)
        self.split_at, self.mark_quotes = split_at, mark_quotes
        self.sections: list[list] = [["", []]]
        self.heading: list[str] | None = None
        self.lists: list[list] = []
        self.skip = self.pre = self.quote = 0

    def _emit(self, s: str) -> None:
        if self.quote and self.mark_quotes:  # like a plain-text client, so strip_quoted can see the quote
            s = s.replace("\n", "\n" + "> " * self.quote)
        (self.heading if self.heading is not None else self.sections[-1][1]).append(s)

    def close_heading(self) -> None:
        if self.heading is not None:
            self.sections.append([" ".join("".join(self.heading).split()), []])
            self.heading = None

    def handle_starttag(self, tag, attrs):
        if tag in _SKIP:
            self.skip += 1
        elif tag in self.split_at:
            self.close_heading()
            self.heading = []
        elif tag in _BLOCK:
            if self.heading is not None and tag != "br":  # an unclosed heading must not swallow the article
                self.close_heading()
            self.quote += tag == "blockquote"
            self.pre += tag == "pre"
            self._emit("\n")
            if tag in ("ol", "ul"):
                start = (dict(attrs).get("start") or "1").strip()
                self.lists.append([tag, int(start) - 1 if start.isdigit() else 0])
            elif tag == "li":
                top = self.lists[-1] if self.lists and self.lists[-1][0] == "ol" else None
                if top:
                    top[1] += 1
                self._emit(f"{top[1]}. " if top else "- ")
        elif tag in ("td", "th"):
            self._emit(" ")

    def handle_endtag(self, tag):
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag in self.split_at:
            self.close_heading()
        elif tag in _BLOCK:
            while tag in ("ol", "ul") and any(t == tag for t, _ in self.lists) and self.lists.pop()[0] != tag:
                pass
            self._emit("\n")
            self.quote -= tag == "blockquote" and self.quote > 0
            self.pre -= tag == "pre" and self.pre > 0

    def handle_data(self, data):
        if not self.skip:
            self._emit(data if self.pre else " ".join(data.splitlines()))


def _parse(markup: str, split_at: frozenset = frozenset(), mark_quotes: bool = False) -> _Parser:
    parser = _Parser(split_at, mark_quotes)
    try:
        parser.feed(markup or "")
        parser.close()
    except Exception:  # html.parser has raised on odd markup in past releases; degrade, never fail
        parser = _Parser()
        parser.sections[0][1].append(unescape(re.sub(r"<[^>]*>?", "\n", markup or "")))
    parser.close_heading()
    return parser


def _lines(parts: list[str]) -> str:
    lines = (" ".join(line.split()) for line in "".join(parts).split("\n"))
    return "\n".join(line for line in lines if line.strip("> "))


def html_to_text(html: str) -> str:
    """Quoted blocks come out as "> " lines so that `strip_quoted` treats HTML and plain mail alike."""
    return _lines(_parse(html, mark_quotes=True).sections[0][1])


def split_sections(html: str) -> list[tuple[str, str]]:
    """Sections, not whole articles, are what the index scores: a reply quotes one section."""
    out: list[tuple[str, str]] = []
    for heading, parts in _parse(html, _SPLIT).sections:
        body = _lines(parts)
        if not heading and out:  # an empty heading continues the previous section rather than starting one
            out[-1] = (out[-1][0], "\n".join(filter(None, (out[-1][1], body))))
        elif heading or body:
            out.append((heading, body))
    return out


_MARKER = re.compile(r"""^\s*(?:
    (?P<quote> >
      | -{2,}\s*(?i:original\s+message|forwarded\s+message|message\s+d'origine|ursprüngliche\s+nachricht)\s*-{2,}
      | (?i:begin\s+forwarded\s+message\s*:) | _{10,}\s*$
      | \*?(?:From|De|Von)\s*:.*\b(?:Sent|Envoyé|Gesendet)\s*: )
  | (?P<sig> --\s*$ | Sent\s+from\s+(?:my\s+)?\S.{0,40}$ | Get\s+Outlook\s+for\b ))""", re.X)
_ATTRIBUTION = re.compile(r"""^\s*(?=.*\d)(?:On\s.{0,300}?\bwrote | Le\s.{0,300}?\sa\s+écrit | El\s.{0,300}?\bescribió
    | Am\s.{0,300}?\bschrieb\b.{0,200} | Op\s.{0,300}?\bschreef\b.{0,200})\s*:\s*$""", re.X)
_FROM = re.compile(r"^\s*\*?(?:From|De|Von)\s*:\*?\s*\S")
_SENT = re.compile(r"^\s*\*?(?:Sent|Date|Envoyé|Gesendet|Datum)\s*:")
_HEADER = re.compile(r"^\s*\*?(?:From|To|Cc|Bcc|Date|Sent|Subject|Reply-To|De|À|Envoyé|Objet|Von|An|Gesendet|Betreff"
                     r"|Datum)\s*:")
_GREETING = re.compile(r"""^\s*(?i:hi|hello|hey|hiya|howdy|dear|greetings|good\s+(?:morning|afternoon|evening|day)
      |bonjour|hallo|hola)\b
    (?: (?:\s+[^\s,!:;]+){0,2}\s*(?:[,!:;.]|$)
      | (?:\s+(?i:there|team|all|everyone|folks|guys|support)){0,2}\s+ )""", re.X)
_CLOSING = re.compile(r"""^\s*(?i:thanks|thank\s+you|many\s+thanks|thx|cheers|best|best\s+regards|best\s+wishes
      |kind\s+regards|warm\s+regards|regards|sincerely|yours\s+truly|all\s+the\s+best|cordialement|merci
      |viele\s+grüße|mit\s+freundlichen\s+grüßen)
    (?:\s+(?i:again|in\s+advance|so\s+much|a\s+lot))?[\s,.!]*
    (?:[A-Z][\w'.-]*(?:\s+[A-Z][\w'.-]*){0,2})?\s*$""", re.X)


def _marker(lines: list[str], i: int) -> tuple[str, int] | None:
    """(kind, number of lines) of a quote marker starting at line i; "sig" kinds end the message outright."""
    line = lines[i]
    if m := _MARKER.match(line):
        return ("quote" if m.group("quote") else "sig"), 1
    if _ATTRIBUTION.match(line):
        return "quote", 1
    nxt = lines[i + 1] if i + 1 < len(lines) else ""
    if nxt and not _ATTRIBUTION.match(nxt) and _ATTRIBUTION.match(line.rstrip() + " " + nxt.strip()):
        return "quote", 2  # mail clients wrap long "On ... wrote:" lines
    if _FROM.match(line) and any(map(_SENT.match, lines[i + 1:i + 5])):
        return "quote", 1
    return None


def _drop_greeting(lines: list[str]) -> list[str]:
    """Repeated until none is left, so that a second pass finds nothing more to strip."""
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
        elif m := _GREETING.match(lines[i]):
            lines[i] = lines[i][m.end():]
        else:
            break
    return lines


def _drop_closing(lines: list[str]) -> list[str]:
    """Only near the end and only when short lines follow: "Thanks, but ..." mid-message is the request."""
    filled = [i for i, line in enumerate(lines) if line.strip()]
    for i in filled[-4:]:
        if i != filled[0] and _CLOSING.match(lines[i]) and all(len(lines[j].strip()) <= 60 for j in filled if j > i):
            return lines[:i]
    return lines


def strip_quoted(text: str) -> str:
    """What the customer wrote this time: the history below it would confuse the model and the tone."""
    lines = (text or "").splitlines()
    while True:
        lines = _drop_greeting(lines)
        cut = next((i for i in range(len(lines)) if _marker(lines, i)), None)
        if cut is None:
            break
        if any(line.strip() for line in lines[:cut]):
            lines = lines[:cut]
            break
        j = cut  # the reply starts with the quote: bottom-posting or a forward, so skip the quoted block
        while j < len(lines):
            if not lines[j].strip() or _HEADER.match(lines[j]):
                j += 1
            elif (mark := _marker(lines, j)) and mark[0] == "quote":
                j += mark[1]
            else:
                break
        if j == cut:  # a signature or "Sent from my phone" first: nothing of the customer's follows
            return ""
        lines = lines[j:]
    return "\n".join(_drop_closing(lines)).strip()


_ATEXT = r"\w.!#$%&'*+/=?^`{|}~-"
_NUM = r"\d+(?:[.,]\d+)*"
_EMAIL = re.compile(rf"(?<![{_ATEXT}])[{_ATEXT}]+@[\w-]+(?:\.[\w-]+)+")
_URL = re.compile(r"\b(?:https?://|www\.)\S+?(?=[.,;:!?)\]]*(?:\s|$))", re.I)
_CARD = re.compile(r"(?<![\w-])(?:\d[ -]?){12,18}\d(?!\w)")
_AMOUNT = re.compile(rf"""(?:[$€£¥]|\b(?:usd|eur|gbp|cad|aud|chf))\s?{_NUM}
    | (?<![\w.,]){_NUM}\s?(?:[$€£¥]|(?:usd|eur|gbp|cad|aud|chf|dollars?|euros?|pounds?|bucks)\b)""", re.I | re.X)
_PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,5}\)[ .-]?)?\d{2,6}(?:[ .-]\d{2,6}){0,4}(?!\w)")
_ORDER = re.compile(r"#\d{3,}(?!\w)|\b[a-z]{1,6}[-_]?\d{4,}(?:[-_]\d+)*\b|(?<![\w.,])\d{5,}(?!\w|[.,]\d)", re.I)


def _is_phone(s: str) -> bool:
    """Bare digit runs are order numbers and dates are dates; the regex alone cannot count digits."""
    return 9 <= sum(c.isdigit() for c in s) <= 15 and not s.isdigit() and not re.match(r"\d{4}[-./]\d\d?[-./]\d", s)


# (pattern, model token, log placeholder, acceptance test); order matters: an email holds digits, a card is long.
_RULES = ((_EMAIL, "emailtoken", "[email]", None), (_URL, "urltoken", None, None),
          (_CARD, "cardtoken", "[card]", None), (_AMOUNT, "amounttoken", "[amount]", None),
          (_PHONE, "phonetoken", "[phone]", _is_phone), (_ORDER, "ordertoken", "[number]", None))


def _sub(rx: re.Pattern, text: str, repl, accept=None) -> str:
    """re.sub, except a rejected match is retried one character later instead of being skipped whole."""
    out, pos, start = [], 0, 0
    while (m := rx.search(text, start)) is not None:
        if (accept and not accept(m.group())) or m.end() == m.start():
            start = m.start() + 1
            continue
        out += [text[pos:m.start()], repl(m)]
        pos = start = m.end()
    return "".join(out) + text[pos:]


def normalise_tokens(text: str) -> str:
    """Lowercase and identifier tokens only, for text that is not a customer message (articles)."""
    text = unicodedata.normalize("NFKC", " ".join((text or "").split()).lower())
    for rx, token, _, accept in _RULES:
        text = _sub(rx, text, lambda m, t=token: f" {t} ", accept)
    return " ".join(text.split())


def normalise(text: str) -> str:
    """A fixed point of one cleaning pass, so text cleaned twice (stored, then re-cleaned) gives the model
    the same features: a token's spaces can expose a greeting or an amount the first pass could not see.
    Each pass that changes anything removes text or a digit/@/URL, so the loop ends; 20 is a backstop."""
    text, before = text or "", None
    for _ in range(20):
        if text == before:
            break
        before = text
        text = " ".join(strip_quoted(unicodedata.normalize("NFKC", text)).split())
        text = unicodedata.normalize("NFKC", text.lower())  # lower() can leave a string un-normalised
        for rx, token, _, accept in _RULES:
            text = " ".join(_sub(rx, text, lambda m, t=token: f" {t} ", accept).split())
    return text


def redact(text: str, limit: int | None = 200) -> str:
    """One line (a newline in a log is an injection) with the customer's identifiers gone.
    URLs keep host and path for debugging; their query strings carry reset tokens and are dropped."""
    text = " ".join((text or "").split())
    for rx, _, placeholder, accept in _RULES:
        repl = (lambda m, p=placeholder: p) if placeholder else (lambda m: re.sub(r"[?#].*", "?[query]", m.group()))
        text = _sub(rx, text, repl, accept)
    if limit and len(text) > limit:
        text = text[:limit - 1].rstrip() + "…"
    return text


# Known tags only: "<help@x.example>" in a plain-text quote header is an address, not markup.
_LOOKS_HTML = re.compile(r"</?(?:p|div|br|span|a|b|i|u|strong|em|ul|ol|li|h[1-6]|table|tr|td|th|html|body|"
                         r"blockquote|pre|img|font|hr|code|section|article)\b[^>]*>|&(?:[a-z]+|#\d+);", re.I)
_SUBJECT_PREFIX = re.compile(r"^(?:\s*(?:re|fwd?|aw|wg|tr|sv|antw)\s*(?:\[\d+\])?\s*:)+", re.I)


def clean_for_model(subject: str, body: str) -> str:
    """The exact input the classifier is trained and served on, so training and serving cannot drift."""
    body = html_to_text(body) if _LOOKS_HTML.search(body or "") else body or ""
    parts = (normalise(_SUBJECT_PREFIX.sub("", subject or "")), normalise(body))
    return " . ".join(p for p in parts if p)
