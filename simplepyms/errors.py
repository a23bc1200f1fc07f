"""Errors the command line reports as one line and a non-zero exit."""


class UsageError(Exception):
    """Bad arguments, bad configuration or a missing dependency."""
