"""The one exception type for errors a user can cause, and the reporter that turns it into
one line.

A command raises ``UserError`` for bad files, bad options and designs that do not fit; the
command line (``run_reporting_errors``) prints its message as a single line on stderr and
exits 1. Anything else that escapes is a programming error: one line too, exit 3, and the
traceback with ``JAYNES_HW_DEBUG=1``.

SIGTERM (``kill``, a CI timeout) becomes the exception ``Terminated`` while the command runs,
so it unwinds like Ctrl-C does: ``subprocess.run`` kills the simulator or tool it is waiting
for (SIGKILL) before the command exits 143, and no child outlives it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable


class UserError(Exception):
    """A problem with the user's input: reported as one line, never as a traceback."""


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived. A ``KeyboardInterrupt``, so that every ``except Exception`` lets it
    through and ``subprocess.run`` kills its child on the way out."""


def _raise_terminated(signum, frame):
    raise Terminated()


@contextlib.contextmanager
def sigterm_unwinds():
    """While inside, SIGTERM raises ``Terminated`` (main thread only; elsewhere nothing
    changes, since only the main thread may set signal handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_reporting_errors(action: Callable[[], int], program: str = "jaynes-hw") -> int:
    """Run ``action``; a user error, interrupt or bug becomes one line and an exit status.

    Returns ``action()``'s status, 1 for a ``UserError``, 130 for Ctrl-C, 143 for SIGTERM,
    0 for a closed pipe (``| head``) and 3 for anything else.
    """
    try:
        with sigterm_unwinds():
            return action()
    except UserError as error:
        print(f"{program}: error: {error}", file=sys.stderr)
        return 1
    except Terminated:
        print(f"{program}: terminated", file=sys.stderr)
        return 143
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
