"""Errors the command line turns into exit code 3 with a one-line reason."""


class DistillguardError(Exception):
    """A failure a user can act on: unreadable input, a locked store, a bad rule file."""


class InputError(DistillguardError):
    """An input path is missing, unreadable or not in a format we can read."""


class StoreLockedError(DistillguardError):
    """Another process holds the store."""
