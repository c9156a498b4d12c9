"""The cocotb ``playback`` session: phases of register writes and input vectors on one
running design (no reset between phases), recording what came out for the caller to judge.

Not a check by itself, so not among ``scenarios``; ``jaynes_hw.sim.runner.playback`` writes
the script (``JAYNES_HW_SIM_PLAYBACK``, an ``.npz`` of ``phases``, ``writes_N`` and
``inputs_N``) and reads the recording (``JAYNES_HW_SIM_RECORDED``: ``outputs_N``,
``cycles_N``, ``period_N``).
"""

from __future__ import annotations

import os

import cocotb
import numpy as np

from jaynes_hw.sim.bench import Bench


@cocotb.test()
async def playback(dut):
    """Each phase: play its writes, wait until every layer's commit is applied, stream its
    vectors back to back with y always ready; record outputs, cycles and vector period."""
    bench = Bench(dut)
    await bench.start()
    script = np.load(os.environ["JAYNES_HW_SIM_PLAYBACK"])
    recorded = {}
    for n in range(int(script["phases"])):
        await bench.port.play(script[f"writes_{n}"].tolist())
        for layer in bench.design.layers:
            await bench.port.wait_commit(layer)
        accepted, start = [], bench.cycle
        recorded[f"outputs_{n}"] = await bench.stream(script[f"inputs_{n}"], accepted=accepted)
        recorded[f"cycles_{n}"] = bench.cycle - start
        starts = np.array(accepted)[:: bench.design.n_in]
        recorded[f"period_{n}"] = float(np.median(np.diff(starts))) if len(starts) > 1 else 0.0
    np.savez(os.environ["JAYNES_HW_SIM_RECORDED"], **recorded)
