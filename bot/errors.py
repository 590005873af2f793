"""One exception for bad outside input, so the CLI can turn it into a one-line reason and exit 2."""


class BadInput(Exception):
    """Bad input from a file, a setting or an argument. The message is the whole one-line reason."""
