"""What a board delivers through its host link, measured in the Amaranth simulation of the
whole ``BoardTop`` (the bit-level UART model on the other end of ``HostClient``), and what
line noise does to it.

Sections (``--sections``, default all):

- ``rate``: the built-in digits network (64-32-10) behind its link, inferences/s through
  the link at the old board setting (12 MHz oscillator, 115200 baud) and at the new one
  (the PLL clock ``jaynes-hw synth`` finds for it on the iCEBreaker, ``--clock-mhz`` to skip
  the build, at 3 Mbaud), each beside the protocol's ``link_bound_rate`` and the core's
  own rate at that clock; the ratio new / old in the same run.
- ``faults``: ``--faults`` random line faults (glitches, flipped bits, dropped bytes, both
  ways) on the digits network's link, one per command, the client retrying: how many were
  filtered, detected, and how many wrong results were accepted.

    python bench/bench_link.py                        # ~10 min (three UP5K builds)
    python bench/bench_link.py --clock-mhz 51 --faults 50

Prints one JSON object per measurement.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from jaynes_hw.boards.client import HostClient, client_for
from jaynes_hw.boards.definitions import board_named
from jaynes_hw.boards.export import board_pll
from jaynes_hw.boards.simulated_uart import SimulatedSerial, faulty_command
from jaynes_hw.boards.top import BoardTop
from jaynes_hw.contract.design import Design
from jaynes_hw.contract.host_protocol import DEFAULT_BAUD, batch_vectors, link_bound_rate
from jaynes_hw.contract.layer_config import network_vector_period
from jaynes_hw.contract.registers import REG_ID, RegisterMap
from jaynes_hw.generate import build_network, build_plan, generate, plan_generation

OLD_CLOCK_HZ, OLD_BAUD = 12e6, 115_200  # the board before: its oscillator, 115200 baud


def found_clock_hz(board: str) -> tuple[float, dict]:
    """The PLL clock `jaynes-hw synth` finds for the digits network (three builds at most)."""
    from jaynes_hw.synth import synthesize

    with tempfile.TemporaryDirectory() as folder:
        written = generate(plan_generation(), Path(folder))
        manifest = next(path for path in written if path.suffix == ".json")
        report = synthesize(board, manifest, Path(folder) / "build")
    keep = ("clock_mhz", "fmax_mhz", "timing_met", "clock_passes", "lcs", "ffs", "brams", "dsps")
    return report["clock_mhz"] * 1e6, {key: report[key] for key in keep}


def measure_rate(layers, clock_hz: float, baud: int, vectors: int) -> dict:
    """Simulate ``vectors`` digits vectors through the link; inferences/s at ``clock_hz``."""
    network = build_network(layers)
    port = SimulatedSerial(BoardTop(network, clock_hz, baud, idle_timeout_s=0.02))
    first, last = layers[0].config, layers[-1].config
    client = HostClient(
        port, n_in=first.n_in, n_out=last.n_out, act_bits=first.act_bits, out_bits=last.out_bits
    )
    rng = np.random.default_rng(1)
    x = rng.integers(-128, 128, size=(vectors, first.n_in))
    started_cycles, started = port.cycles, time.monotonic()
    outputs = client.infer(x)
    cycles = port.cycles - started_cycles
    period = network_vector_period([layer.config for layer in layers])
    return {
        "clock_mhz": round(clock_hz / 1e6, 6),
        "baud": baud,
        "divisor": port.divisor,
        "vectors": vectors,
        "cycles": cycles,
        "inferences_per_s": round(vectors * clock_hz / cycles, 1),
        "link_bound_rate": round(
            link_bound_rate(baud, first.n_in, last.n_out, first.act_bits, last.out_bits), 1
        ),
        "core_inferences_per_s": round(clock_hz / period),
        "retries": client.faults.total(),
        "outputs_shape": list(outputs.shape),
        "simulated_seconds": round(time.monotonic() - started, 1),
    }


def rate_section(args) -> None:
    layers = build_plan(plan_generation())
    if args.clock_mhz is not None:
        clock_hz = board_pll(board_named(args.board), args.clock_mhz, DEFAULT_BAUD).output_hz
        print(json.dumps({"section": "rate", "clock": "given", "clock_mhz": clock_hz / 1e6}))
    else:
        clock_hz, build = found_clock_hz(args.board)
        print(json.dumps({"section": "rate", "clock": "found by synth", **build}), flush=True)
    n_in = layers[0].config.n_in
    old = measure_rate(layers, OLD_CLOCK_HZ, OLD_BAUD, batch_vectors(n_in))
    print(json.dumps({"section": "rate", "setting": "old", **old}), flush=True)
    new = measure_rate(layers, clock_hz, DEFAULT_BAUD, 4 * batch_vectors(n_in))
    print(json.dumps({"section": "rate", "setting": "new", **new}), flush=True)
    ratio = new["inferences_per_s"] / old["inferences_per_s"]
    print(json.dumps({"section": "rate", "new_over_old": round(ratio, 2)}))


def faults_section(args) -> None:
    """The digits network at 8 cycles a bit (115200 baud), its idle timeout 40 byte times,
    so the simulation stays quick; faults as ``faulty_command`` draws them."""
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as folder:
        plan = plan_generation()
        written = generate(plan, Path(folder))
        design = Design.from_manifest(next(path for path in written if path.suffix == ".json"))
    divisor, baud = 8, 115_200
    top = BoardTop(
        build_network(build_plan(plan)), divisor * baud, baud, idle_timeout_s=40 * 10 / baud
    )
    port = SimulatedSerial(top)
    client = client_for(port, design)
    identity = RegisterMap.of(design.layers[0].config).constant_registers()[REG_ID]
    tally = {"injected": 0, "filtered": 0, "detected": 0, "unnoticed": 0, "wrong_accepted": 0}
    kinds: dict[str, int] = {}
    started = time.monotonic()
    for _ in range(args.faults):
        x = design.random_inputs(rng, int(rng.integers(1, 3)))
        trial = faulty_command(client, port, rng, x, design.forward(x), identity, divisor)
        tally["injected"] += 1
        kinds[trial.name] = kinds.get(trial.name, 0) + 1
        tally["wrong_accepted"] += not trial.correct
        if trial.retries:
            tally["detected"] += 1
        elif trial.name in ("one-cycle glitch", "idle glitch"):
            tally["filtered"] += 1
        else:
            tally["unnoticed"] += 1  # reached the decoder and changed nothing it checks
    seconds = round(time.monotonic() - started, 1)
    print(json.dumps({"section": "faults", **tally, "kinds": kinds, "seconds": seconds}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", nargs="+", default=["rate", "faults"])
    parser.add_argument("--board", default="icebreaker")
    parser.add_argument("--clock-mhz", type=float, help="skip the build: this PLL clock")
    parser.add_argument("--faults", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if "rate" in args.sections:
        rate_section(args)
    if "faults" in args.sections:
        faults_section(args)


if __name__ == "__main__":
    main()
