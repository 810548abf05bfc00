"""The one exception type a user of `internals` can meet."""


class InternalsError(Exception):
    """A problem with the user's input or environment, with a message saying what to do.

    The CLI prints it on one line and exits with status 2.
    """
