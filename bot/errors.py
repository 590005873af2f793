"""One exception for bad outside input, so the CLI can turn it into a one-line reason and exit 2."""


class BadInput(Exception):
    """Bad input from a file, a setting or an argument. The message is the whole one-line reason."""


class VendorFailure(Exception):
    """The helpdesk refused a call or stayed unreachable after the capped retries (adapters raise subclasses)."""
