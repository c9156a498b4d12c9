"""FPGA builds with the YoWASP tools, compared with committed baselines.

The small iCE40 build runs everywhere (about a minute, most of it YoWASP compiling itself
the first time); the full-size comparisons run with ``pytest -m fpga``. Baselines:
``tests/data/synth_baselines.json``, rewritten by ``python -m tests.helpers.synth_baselines``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jaynes_hw.boards import board_named
from jaynes_hw.cli import main
from jaynes_hw.synth import failure_reason
from tests.helpers.paths import BASELINES as BASELINES_FILE
from tests.helpers.synth_baselines import BUILDS, build, differences

BASELINES = json.loads(BASELINES_FILE.read_text())
UP5K_BITSTREAM_BYTES = 104_090  # every iCE40 UP5K bitstream has this size


def _check_against_baseline(name: str, tmp_path: Path) -> dict:
    figures = build(name, tmp_path)
    baseline = BASELINES["builds"][name]
    problems = differences(figures, baseline)
    assert not problems, (
        f"{name} moved from its baseline (tools now {figures['tools']}, baseline "
        f"{BASELINES['tools']}): {problems}"
    )
    return figures


def test_small_icebreaker_build_matches_its_baseline(tmp_path):
    figures = _check_against_baseline("smoke_icebreaker", tmp_path)
    assert Path(figures["bitstream"]).stat().st_size == UP5K_BITSTREAM_BYTES
    assert 0 < figures["lcs"] <= 5280 and figures["dsps"] == 0


@pytest.mark.fpga
@pytest.mark.parametrize("name", [name for name in BUILDS if name != "smoke_icebreaker"])
def test_full_size_build_matches_its_baseline(name, tmp_path):
    _check_against_baseline(name, tmp_path)


@pytest.mark.fpga
def test_compare_command_writes_both_cores_and_ratios(tmp_path, capsys):
    report = tmp_path / "compare.json"
    args = ["synth", "--board", "icebreaker", "--compare", "--shape", "16x8", "--lanes", "2"]
    assert main([*args, "--out", str(tmp_path / "build"), "--json", str(report)]) == 0
    document = json.loads(report.read_text())
    assert set(document) == {"lognormal", "int8", "link_only", "ratio"}
    for core in ("lognormal", "int8"):
        assert document[core]["n_in"] == 16 and document[core]["lanes"] == 2
    ratio = document["ratio"]
    assert ratio["lcs"] == round(document["lognormal"]["lcs"] / document["int8"]["lcs"], 3)
    assert "ratio" in capsys.readouterr().out


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--compare", "--shape", "64"], "--shape must look like 64x32"),
        (["--compare", "--core", "int8"], "no --weights or --core"),
        (["--config", "missing.toml"], "missing.toml"),
    ],
)
def test_synth_bad_input_is_one_line(arguments, message, tmp_path, capsys):
    status = main(["synth", "--board", "icebreaker", "--out", str(tmp_path), *arguments])
    err = capsys.readouterr().err
    assert status == 1
    assert message in err and len(err.strip().splitlines()) == 1


def test_unknown_board_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["synth", "--board", "arty"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'arty'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "cells, message",
    [
        ({"SB_MAC16": 9, "SB_LUT4": 3000}, "needs 9 DSP blocks, the icebreaker has 8"),
        ({"SB_MAC16": 8, "SB_LUT4": 6000}, "place and route for icebreaker failed"),
    ],
)
def test_a_failed_build_says_why(cells, message, tmp_path):
    stat = {"design": {"num_cells_by_type": cells}}
    (tmp_path / "stat.json").write_text(json.dumps(stat))
    assert message in failure_reason(board_named("icebreaker"), tmp_path)


def test_several_seeds_keep_the_fastest_placement(tmp_path):
    """The host link alone, placed with two seeds: Yosys once, nextpnr twice; the build keeps
    the faster seed's bitstream and report."""
    from jaynes_hw.synth import synthesize

    report = synthesize("icebreaker", None, tmp_path, clock_mhz=48, seeds=(1, 2))
    by_seed = report["fmax_by_seed"]
    assert set(by_seed) == {"1", "2"} and report["fmax_mhz"] == max(by_seed.values())
    assert by_seed[str(report["seed"])] == report["fmax_mhz"]
    second = json.loads((tmp_path / "seed2" / "report.json").read_text())
    assert round(next(iter(second["fmax"].values()))["achieved"], 2) == by_seed["2"]
    kept = tmp_path / "seed2" / "top.bin" if report["seed"] == 2 else None
    if kept is not None:
        assert (tmp_path / "top.bin").read_bytes() == kept.read_bytes()
    assert not (tmp_path / "seed2" / "top.rpt").exists()  # Yosys ran once


def test_a_build_past_its_timeout_is_stopped_with_one_line(tmp_path):
    from jaynes_hw.support.errors import UserError
    from jaynes_hw.synth import synthesize

    with pytest.raises(UserError, match=r"the build timed out after 0.5 s \(in yosys\)"):
        synthesize("icebreaker", None, tmp_path, clock_mhz=48, timeout_seconds=0.5)
    assert not (tmp_path / "top.bin").exists()


def test_synth_stops_a_build_past_its_timeout_with_one_line(tmp_path, capsys):
    """The command's ``--timeout-minutes`` reaches the flow: the tool is stopped, the
    error is one line after the progress line, and no bitstream is left."""
    status = main(["synth", "--board", "icebreaker", "--out", str(tmp_path), "--compare",
                   "--timeout-minutes", "0.005"])  # fmt: skip
    lines = capsys.readouterr().err.strip().splitlines()
    assert status == 1
    assert lines == [
        "building the lognormal core for icebreaker ...",
        "jaynes-hw: error: the build timed out after 0.3 s (in yosys)",
    ]
    assert not list(tmp_path.rglob("*.bin"))


UNROLLED_TOML = """
name = "unrolled_small"
source = "small.npz"
core = "lognormal"
scheme = "pow2"
bits = 4
datapath = "unrolled"

[[layer]]
weight = "w"
relu = true
"""


def test_synth_reports_an_unrolled_core(tmp_path):
    """A small unrolled layer through the whole flow on the UP5K: it fits (behind a link
    without the self-test), its report says what was built (datapath, codes not
    writable) and its rate behind the element-stream adapters (a vector every n_in
    cycles). 6 x 6, with room to spare: a 10 x 6 layer filled 92 % of the chip, where
    nextpnr's placement of one clock pass or another failed or ran on for minutes with a
    change of a few cells (see README, "A queue per group of outputs")."""
    import numpy as np

    rng = np.random.default_rng(2)
    weights = np.exp(rng.normal(-2.5, 1.0, (6, 6))) * rng.choice([-1, 1], (6, 6))
    np.savez(tmp_path / "small.npz", w=weights.astype(np.float32))
    (tmp_path / "small.toml").write_text(UNROLLED_TOML)
    report = tmp_path / "report.json"
    args = ["synth", "--board", "icebreaker", "--config", str(tmp_path / "small.toml")]
    args += ["--no-self-test", "--out", str(tmp_path / "build"), "--json", str(report)]
    assert main(args) == 0
    document = json.loads(report.read_text())
    assert document["self_test"] is False
    (layer,) = document["layers"]
    assert layer["datapath"] == "unrolled" and layer["codes_writable"] is False
    assert layer["lanes"] == 6 and layer["cycles_per_vector"] == 1
    assert document["cycles_per_vector"] == 6  # the collector takes a value a cycle
    assert 0 < document["lcs"] <= 5280 and document["fmax_mhz"] > 0


def test_the_clock_is_found_from_the_fmax_and_made_by_the_pll(tmp_path):
    """The host link alone, its clock found: a first build at 48 MHz, rebuilds at the
    highest PLL clock under each Fmax. The PLL's output, as nextpnr derived it from the
    12 MHz oscillator and the dividers, is the clock reported; it meets timing, within 10%
    below the Fmax."""
    from jaynes_hw.synth import synthesize

    report = synthesize("icebreaker", None, tmp_path)
    pll = report["pll"]
    assert pll["primitive"] == "SB_PLL40_PAD" and pll["input_mhz"] == 12.0
    made_mhz = 12.0 * (pll["DIVF"] + 1) / ((pll["DIVR"] + 1) * 2 ** pll["DIVQ"])
    assert report["clock_mhz"] == pytest.approx(made_mhz)
    assert report["clock_passes"][0]["clock_mhz"] == 48.0
    clocks = json.loads((tmp_path / "report.json").read_text())["fmax"]
    (derived,) = clocks.values()  # one clock: the PLL's output, constrained by nextpnr
    assert derived["constraint"] == pytest.approx(made_mhz, rel=1e-3)
    assert report["timing_met"]
    assert 0.9 * report["fmax_mhz"] <= report["clock_mhz"] <= report["fmax_mhz"]
    # the slowest path is the link's (there is nothing else), and its delay is the Fmax's
    assert report["limited_by"] == "link"
    path = report["critical_path"]
    assert path["from"].startswith("link.") and path["logic_cells"] >= 1
    assert 1e3 / path["delay_ns"] == pytest.approx(report["fmax_mhz"], rel=0.01)
    assert (tmp_path / "top.bin").stat().st_size == UP5K_BITSTREAM_BYTES


def _scripted_search(tmp_path, outcomes):
    """``_find_clock`` over scripted builds (nextpnr's placement noise and placer failures
    are not reproducible on demand; the PLL settings are the real ones): ``outcomes`` is
    each build's Fmax in MHz, or None for a build that fails. Returns the search's result
    and each build's (clock in MHz, seeds)."""
    from jaynes_hw.boards.export import board_pll
    from jaynes_hw.support.errors import UserError
    from jaynes_hw.synth.flow import _find_clock

    board = board_named("icebreaker")
    calls = []

    def build(pll, directory, seeds):
        calls.append((pll.output_hz / 1e6, seeds))
        fmax_mhz = outcomes[len(calls) - 1]
        if fmax_mhz is None:
            raise UserError("place and route for icebreaker failed (the design may not fit)")
        directory.mkdir(parents=True)
        (directory / "top.bin").write_bytes(b"pass %d" % len(calls))
        return {"fmax_mhz": fmax_mhz}

    result = _find_clock(board, 3_000_000, board_pll(board), (1, 2), build, tmp_path)
    return result, calls


def test_the_clock_search_climbs_while_builds_meet_and_keeps_the_fastest_met(tmp_path):
    (pll, report, passes), calls = _scripted_search(tmp_path, [53.0, 54.0, 51.0])
    clocks = [clock for clock, _ in calls]
    assert clocks[0] == 48.0 and 48.0 < clocks[1] <= 53.0  # the climb aims under 53 MHz
    assert clocks[2] <= 54.0 and len(calls) == 3  # missed at 51: the search stops
    assert pll.output_hz / 1e6 == clocks[1] and report["fmax_mhz"] == 54.0
    assert (tmp_path / "top.bin").read_bytes() == b"pass 2"
    assert [entry["fmax_mhz"] for entry in passes] == [53.0, 54.0, 51.0]


def test_a_climb_that_misses_is_followed_by_one_under_its_fmax(tmp_path):
    from jaynes_hw.synth.flow import MISS_MARGIN

    (pll, report, _), calls = _scripted_search(tmp_path, [55.0, 53.0, 52.0, 40.0])
    clocks = [clock for clock, _ in calls]
    assert clocks[1] > 53.0  # the climb towards 55 MHz missed at 53
    assert 48.0 < clocks[2] <= 53.0 * (1 - MISS_MARGIN)  # between the met 48 and the miss
    assert pll.output_hz / 1e6 == clocks[2] and report["fmax_mhz"] == 52.0
    assert (tmp_path / "top.bin").read_bytes() == b"pass 3"


def test_after_a_miss_the_clock_search_aims_under_the_fmax_reached(tmp_path):
    """The digits CNN near a full UP5K: the first build misses 48 MHz at 37.7; a rebuild
    at the highest PLL clock under 37.7 MHz would miss again as often as not."""
    from jaynes_hw.synth.flow import MISS_MARGIN

    (pll, report, _), calls = _scripted_search(tmp_path, [37.7, 35.0, 34.0])
    clocks = [clock for clock, _ in calls]
    assert clocks[1] <= 37.7 * (1 - MISS_MARGIN) and clocks[2] <= 35.0 * (1 - MISS_MARGIN)
    assert len(calls) == 3 and pll.output_hz / 1e6 == clocks[2]  # met at the third
    assert report["fmax_mhz"] == 34.0 and (tmp_path / "top.bin").read_bytes() == b"pass 3"


def test_a_rebuild_that_fails_is_retried_with_other_seeds(tmp_path):
    (pll, report, passes), calls = _scripted_search(tmp_path, [37.7, None, 37.0])
    assert calls[1][0] == calls[2][0] and calls[1][1] == (1, 2) and calls[2][1] == (3, 4)
    assert pll.output_hz / 1e6 == calls[2][0] and report["fmax_mhz"] == 37.0
    assert passes[1]["fmax_mhz"] is None and "may not fit" in passes[1]["failed"]
    assert (tmp_path / "top.bin").read_bytes() == b"pass 3"


def test_when_no_build_meets_its_clock_the_closest_is_kept(tmp_path):
    """Two failures end the search; of the builds that placed, the one whose Fmax came
    closest to its clock is kept (and reported as missing timing by ``synthesize``)."""
    (pll, report, passes), calls = _scripted_search(tmp_path, [37.7, 34.1, None, None])
    assert len(calls) == 4 and report["fmax_mhz"] == 34.1
    assert pll.output_hz / 1e6 == calls[1][0] and (tmp_path / "top.bin").read_bytes() == b"pass 2"
    assert [entry.get("failed", "")[:5] for entry in passes] == ["", "", "place", "place"]


def test_a_miss_under_every_pll_clock_keeps_the_build(tmp_path):
    """An Fmax so low that no PLL clock under it makes 3 Mbaud: the search ends with the
    one build it has (timing missed), rather than failing on the clock it cannot make."""
    (pll, report, passes), calls = _scripted_search(tmp_path, [5.0])
    assert len(calls) == 1 and calls[0][0] == 48.0 == pll.output_hz / 1e6
    assert report["fmax_mhz"] == 5.0
    assert [entry["fmax_mhz"] for entry in passes] == [5.0]


def test_a_first_build_that_fails_is_the_error(tmp_path):
    from jaynes_hw.support.errors import UserError

    with pytest.raises(UserError, match="may not fit"):
        _scripted_search(tmp_path, [None])
