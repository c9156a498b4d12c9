"""The PLL that clocks a board's design: its settings for a frequency (pure Python; the
primitive's instance, iCE40 ``SB_PLL40_PAD`` or ECP5 ``EHXPLLL``, is ``top.pll_instance``).

``pll_settings(family, input_hz, most_hz, baud)`` searches every divider setting within the
datasheet ranges (the ones icepll / ecppll use) for the highest output frequency at or below
``most_hz`` whose UART divisor for ``baud`` is within tolerance. The output frequency is
exact (the dividers' ratio), so it is the clock the chip runs at and the one nextpnr is
given to meet.
"""

from __future__ import annotations

from dataclasses import dataclass

from jaynes_hw.contract.host_protocol import BAUD_TOLERANCE, MIN_CYCLES_PER_BIT
from jaynes_hw.support.errors import UserError

# iCE40 SB_PLL40 (iCE40 sysCLOCK PLL design guide, TN1251): simple feedback
ICE40_PFD_HZ = (10e6, 133e6)  # after DIVR
ICE40_VCO_HZ = (533e6, 1066e6)
ICE40_OUT_HZ = (16e6, 275e6)
# ECP5 EHXPLLL (ECP5 sysCLOCK PLL guide, TN1263), feedback from CLKOP
ECP5_PFD_HZ = (3.125e6, 400e6)
ECP5_VCO_HZ = (400e6, 800e6)
ECP5_OUT_HZ = (3.125e6, 400e6)


@dataclass(frozen=True)
class PllSettings:
    """One setting of a board's PLL: ``output_hz = input_hz * multiply / divide`` exactly.

    ``parameters``: the primitive's divider parameters (``DIVR``/``DIVF``/``DIVQ``/
    ``FILTER_RANGE``, or ``CLKI_DIV``/``CLKFB_DIV``/``CLKOP_DIV``).
    """

    family: str
    input_hz: float
    output_hz: float
    vco_hz: float
    parameters: dict

    def to_json(self) -> dict:
        return {
            "primitive": "SB_PLL40_PAD" if self.family == "ice40" else "EHXPLLL",
            "input_mhz": self.input_hz / 1e6,
            "output_mhz": round(self.output_hz / 1e6, 6),
            "vco_mhz": round(self.vco_hz / 1e6, 6),
            **self.parameters,
        }


def _ice40_settings(input_hz: float):
    for divr in range(16):
        pfd = input_hz / (divr + 1)
        if not ICE40_PFD_HZ[0] <= pfd <= ICE40_PFD_HZ[1]:
            continue
        for divf in range(128):
            vco = pfd * (divf + 1)
            if not ICE40_VCO_HZ[0] <= vco <= ICE40_VCO_HZ[1]:
                continue
            for divq in range(1, 7):
                out = vco / (1 << divq)
                if ICE40_OUT_HZ[0] <= out <= ICE40_OUT_HZ[1]:
                    parameters = {
                        "DIVR": divr,
                        "DIVF": divf,
                        "DIVQ": divq,
                        "FILTER_RANGE": _ice40_filter_range(pfd),
                    }
                    yield PllSettings("ice40", input_hz, out, vco, parameters)


def _ice40_filter_range(pfd_hz: float) -> int:
    """The loop filter setting for a phase-detector frequency (icepll's table)."""
    for limit, setting in ((17e6, 1), (26e6, 2), (44e6, 3), (66e6, 4), (101e6, 5)):
        if pfd_hz < limit:
            return setting
    return 6


def _ecp5_settings(input_hz: float):
    for clki_div in range(1, 129):
        pfd = input_hz / clki_div
        if not ECP5_PFD_HZ[0] <= pfd <= ECP5_PFD_HZ[1]:
            continue
        for clkfb_div in range(1, 129):
            out = pfd * clkfb_div
            if not ECP5_OUT_HZ[0] <= out <= ECP5_OUT_HZ[1]:
                continue
            for clkop_div in range(1, 129):
                vco = out * clkop_div
                if ECP5_VCO_HZ[0] <= vco <= ECP5_VCO_HZ[1]:
                    parameters = {
                        "CLKI_DIV": clki_div,
                        "CLKFB_DIV": clkfb_div,
                        "CLKOP_DIV": clkop_div,
                    }
                    yield PllSettings("ecp5", input_hz, out, vco, parameters)
                    break  # the first VCO in range; a higher one buys nothing here


def baud_error(clock_hz: float, baud: int) -> float | None:
    """The UART rate's relative error at ``clock_hz``, or None when the clock is too slow
    for the receiver (``MIN_CYCLES_PER_BIT``)."""
    divisor = round(clock_hz / baud)
    if divisor < MIN_CYCLES_PER_BIT:
        return None
    return abs(clock_hz / divisor - baud) / baud


def pll_settings(family: str, input_hz: float, most_hz: float, baud: int) -> PllSettings:
    """The PLL setting with the highest output at or below ``most_hz`` that makes ``baud``
    within ``BAUD_TOLERANCE``; ``UserError`` when there is none."""
    candidates = _ice40_settings(input_hz) if family == "ice40" else _ecp5_settings(input_hz)
    best = None
    for settings in candidates:
        if settings.output_hz > most_hz * (1 + 1e-12):
            continue
        error = baud_error(settings.output_hz, baud)
        if error is None or error > BAUD_TOLERANCE:
            continue
        if best is None or settings.output_hz > best.output_hz:
            best = settings
    if best is None:
        raise UserError(
            f"no {family} PLL setting from {input_hz / 1e6:g} MHz reaches {baud} baud at or "
            f"below {most_hz / 1e6:g} MHz (lower --baud, or raise the clock)"
        )
    return best
