"""The board PLLs: settings within the datasheet ranges, the clock they make computed from
the dividers here, and the highest clock at or below the request that makes the baud rate."""

from __future__ import annotations

import pytest

from jaynes_hw.boards.clocking import pll_settings
from jaynes_hw.contract.host_protocol import BAUD_TOLERANCE, MIN_CYCLES_PER_BIT
from jaynes_hw.support.errors import UserError


def ice40_output_hz(input_hz: float, p: dict) -> float:
    """SB_PLL40 simple feedback: F_out = F_in (DIVF + 1) / ((DIVR + 1) 2^DIVQ)."""
    return input_hz * (p["DIVF"] + 1) / ((p["DIVR"] + 1) * 2 ** p["DIVQ"])


def ecp5_output_hz(input_hz: float, p: dict) -> float:
    """EHXPLLL, feedback from CLKOP: F_out = F_in CLKFB_DIV / CLKI_DIV."""
    return input_hz * p["CLKFB_DIV"] / p["CLKI_DIV"]


@pytest.mark.parametrize("most_mhz", [26.0, 33.7, 48.0, 53.45, 99.0, 150.0])
@pytest.mark.parametrize("baud", [115_200, 1_000_000, 3_000_000])
def test_ice40_settings_make_the_clock_they_claim_within_the_ranges(most_mhz, baud):
    settings = pll_settings("ice40", 12e6, most_mhz * 1e6, baud)
    p = settings.parameters
    assert settings.output_hz == pytest.approx(ice40_output_hz(12e6, p), rel=1e-12)
    assert settings.output_hz <= most_mhz * 1e6
    assert 10e6 <= 12e6 / (p["DIVR"] + 1) <= 133e6
    assert 533e6 <= 12e6 / (p["DIVR"] + 1) * (p["DIVF"] + 1) <= 1066e6
    divisor = round(settings.output_hz / baud)
    assert divisor >= MIN_CYCLES_PER_BIT
    assert abs(settings.output_hz / divisor - baud) <= BAUD_TOLERANCE * baud


@pytest.mark.parametrize("most_mhz", [45.0, 100.0, 120.0])
def test_ecp5_settings_make_the_clock_they_claim_within_the_ranges(most_mhz):
    settings = pll_settings("ecp5", 25e6, most_mhz * 1e6, 3_000_000)
    p = settings.parameters
    assert settings.output_hz == pytest.approx(ecp5_output_hz(25e6, p), rel=1e-12)
    assert settings.output_hz <= most_mhz * 1e6
    assert 400e6 <= settings.output_hz * p["CLKOP_DIV"] <= 800e6
    assert 3.125e6 <= 25e6 / p["CLKI_DIV"]


def test_the_clock_is_the_highest_that_makes_the_baud_rate():
    # 12 MHz in: 48 MHz is reachable (x4) and makes 3 Mbaud exactly (16 cycles a bit)
    assert pll_settings("ice40", 12e6, 48e6, 3_000_000).output_hz == 48e6
    # the iCEBreaker examples' 48 MHz setting is the one icepll prints
    assert pll_settings("ice40", 12e6, 48e6, 3_000_000).parameters == {
        "DIVR": 0,
        "DIVF": 63,
        "DIVQ": 4,
        "FILTER_RANGE": 1,
    }
    # at or below 50 MHz the PLL makes 49.5 MHz (0.75 MHz steps), 3% off 3 Mbaud with 16
    # or 17 cycles a bit; 48.75 MHz makes 3.05 Mbaud with 16 (1.6%)
    assert pll_settings("ice40", 12e6, 50e6, 3_000_000).output_hz == 48.75e6
    assert pll_settings("ecp5", 25e6, 100e6, 3_000_000).output_hz == 100e6


def test_a_baud_rate_no_pll_clock_can_make_is_refused():
    with pytest.raises(UserError, match="no ice40 PLL setting"):
        pll_settings("ice40", 12e6, 20e6, 3_000_000)  # 20 MHz: under 8 cycles a bit
