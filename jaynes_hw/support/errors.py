"""The one exception type for errors a user can cause, and the reporter that turns it into
one line.

A command raises ``UserError`` for bad files, bad options and designs that do not fit; the
command line (``run_reporting_errors``) prints its message as a single line on stderr and
exits 1. Anything else that escapes is a programming error: one line too, exit 3, and the
traceback with ``JAYNES_HW_DEBUG=1``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable


class UserError(Exception):
    """A problem with the user's input: reported as one line, never as a traceback."""


def run_reporting_errors(action: Callable[[], int], program: str = "jaynes-hw") -> int:
    """Run ``action``; a user error, interrupt or bug becomes one line and an exit status.

    Returns ``action()``'s status, 1 for a ``UserError``, 130 for Ctrl-C, 0 for a closed
    pipe (``| head``) and 3 for anything else.
    """
    try:
        return action()
    except UserError as error:
        print(f"{program}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{program}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as error:  # a bug: still one line unless debugging
        if os.environ.get("JAYNES_HW_DEBUG"):
            raise
        print(
            f"{program}: internal error: {type(error).__name__}: {error} "
            "(set JAYNES_HW_DEBUG=1 for the traceback, and please report it)",
            file=sys.stderr,
        )
        return 3
