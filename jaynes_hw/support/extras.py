"""Optional dependencies: import one, or fail with the ``pip install`` line that brings it."""

from __future__ import annotations

import importlib
from types import ModuleType

from jaynes_hw.support.errors import UserError


def require_extra(module: str, extra: str, purpose: str = "reading this format") -> ModuleType:
    """Import ``module``; raise ``UserError`` naming the ``extra`` that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise UserError(
            f"{purpose} needs the '{extra}' extra: pip install 'jaynes-hw[{extra}]'"
        ) from None
