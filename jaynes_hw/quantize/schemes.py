"""The codebook schemes: their names, the one check of a scheme name, and each scheme's
default register format.

Hardware schemes (levels held in codebook registers, all sign + magnitude):

- ``lognormal``: Lloyd-Max levels seeded at the fitted lognormal's bin means (m6e2);
- ``pow2``: powers of two, a shift in hardware (m1, up to 6 bits);
- ``lns``: geometric levels with a fractional exponent step (m6e2);
- ``int``: uniform levels, the conventional baseline ((bits-1)-bit mantissa).

Float-only baselines, for comparison: ``nf4`` and ``nf4-b64`` (``baselines``).
"""

from __future__ import annotations

from collections.abc import Sequence

from jaynes_hw.contract.codebook import LevelFormat
from jaynes_hw.support.errors import UserError

HARDWARE_SCHEMES = ("lognormal", "pow2", "lns", "int")
BASELINE_SCHEMES = ("nf4", "nf4-b64")
ALL_SCHEMES = HARDWARE_SCHEMES + BASELINE_SCHEMES
# Levels of the lognormal and lns schemes: a 6-bit mantissa and a 0..3 shift, at most
# 63 << 3 = 504 (9 bits). The narrowest format measured within 0.1 dB of 4-bit SQNR of m6e3
# on every bench layer (bench/bench_level_formats.py); m8e0 and m5e2 lose 0.7 dB on the
# wide (sigma 1.5) layer.
DEFAULT_LEVEL_FORMAT = LevelFormat(mantissa_bits=6, exponent_bits=2)


def check_scheme(scheme: str, allowed: Sequence[str] = HARDWARE_SCHEMES) -> str:
    """``scheme`` if it is one of ``allowed``; otherwise ``UserError`` naming the choices."""
    if scheme not in allowed:
        raise UserError(f"unknown scheme {scheme!r}; expected one of {', '.join(allowed)}")
    return scheme


def default_format(scheme: str, bits: int) -> LevelFormat:
    """Register format of each hardware scheme's levels at ``bits``."""
    check_scheme(scheme)
    if scheme in ("lognormal", "lns"):
        return DEFAULT_LEVEL_FORMAT
    if scheme == "pow2":
        if bits > 6:
            raise UserError("pow2 codebooks support at most 6 bits (32 distinct shifts)")
        return LevelFormat(mantissa_bits=1, exponent_bits=bits - 1)
    return LevelFormat(mantissa_bits=bits - 1, exponent_bits=0)  # int
