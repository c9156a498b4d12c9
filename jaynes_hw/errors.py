"""The one exception type for errors a user can cause (bad files, bad options).

The CLI prints its message as a single line on stderr and exits non-zero; anything else
that escapes is a programming error.
"""


class UserError(Exception):
    """A problem with the user's input: reported as one line, never as a traceback."""
