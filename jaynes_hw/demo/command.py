"""``jaynes-hw demo``: the whole toolkit on real data, and the strengths-only retune.

Steps (each prints a progress line on stderr; the summary table goes to stdout):

1. load scikit-learn's digits (``jaynes_hw.demo.digits``: 1347 training, 450 test images) and
   train the 64-32-10 MLP (numpy, about 4 s; it is the built-in default network);
2. quantize every layer with the 4-bit ``lognormal`` scheme and generate the network as the
   generator does (Verilog, manifest, memory files in ``OUT/rtl``); also build the int8 core
   and a 4-bit uniform (``int`` scheme) codebook, judged by the bit-exact reference;
3. fit each layer's codebook (K = 8 levels) on the training split with the codes frozen
   (``jaynes_hw.quantize.tune``), twice: from the generated codebook, and from an *erased*
   one where every level of a layer holds one value (the layer's mean level), so that only
   the connections' signs and ranks are left;
4. run the whole test split through the Verilator simulation of the emitted Verilog, four
   times on one running simulation: as generated; after writing the fitted codebook through
   the configuration port; after writing the erased codebook; after writing the codebook
   fitted from the erased one. Nothing is regenerated and the simulation is not reset.
   Every output of every phase must equal the bit-exact reference of the codebook written;
5. place and route the network for the iCEBreaker (``jaynes_hw.synth``; ``--board``
   another) for its Fmax, and report inferences per second = Fmax / cycles per inference
   (the vector period measured in the simulation, back-to-back vectors). ``--fmax-mhz``
   skips the build.

Exit status 0 when the hardware matched the reference everywhere, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from jaynes_hw.contract.design import Design
from jaynes_hw.contract.host_protocol import DEFAULT_BAUD, network_link_rate
from jaynes_hw.sim.runner import SIMULATORS
from jaynes_hw.support.errors import UserError

DESCRIPTION = (
    "Train the 64-32-10 digits MLP, quantize it (4-bit lognormal), generate it, run the whole "
    "test split through the Verilator simulation (bit-exact against the reference), fit the "
    "codebooks on the training split with the codes frozen and write them into the running "
    "simulation, and report inferences/s on an iCEBreaker. Needs the demo, sim and synth "
    "extras."
)

BOARD = "icebreaker"  # both demos; `--board ulx3s` for the ECP5
CODE_BITS = 4


@dataclass
class Progress:
    """Numbered progress lines on stderr with the seconds since the start."""

    steps: int
    started: float
    done: int = 0

    def step(self, text: str) -> None:
        self.done += 1
        elapsed = time.monotonic() - self.started
        print(f"[{self.done}/{self.steps} {elapsed:5.1f} s] {text}", file=sys.stderr, flush=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("demo_build"),
        help="work directory: weights, generated files, simulator and FPGA builds (demo_build)",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the results as JSON")
    parser.add_argument(
        "--fmax-mhz",
        type=float,
        help="use this iCEBreaker Fmax instead of placing and routing the network",
    )
    parser.add_argument("--simulator", choices=SIMULATORS, default="verilator")
    parser.add_argument(
        "--board",
        choices=("icebreaker", "ulx3s"),
        help="the board to place and route for (default: icebreaker; with --cnn the layers get "
        "one lane each on the iCEBreaker, 4, 3 and 1 on the ULX3S)",
    )
    parser.add_argument(
        "--cnn",
        action="store_true",
        help="the convolutional network instead (jaynes_hw/data/digits_cnn.onnx, trained with "
        "PyTorch and exported to ONNX): import, quantize, generate, simulate, iCEBreaker rate",
    )


def _mean_level_codebook(layer) -> tuple[np.ndarray, np.ndarray]:
    """Every level of ``layer`` at its mean level over the connections (register form)."""
    from jaynes_hw.contract.codebook import unpack_codes

    _, bins = unpack_codes(layer.stored, layer.config.code_bits)
    mean = float(np.mean(layer.levels[bins]))
    return layer.config.level_format.encode(np.full(layer.config.codebook_size, mean))


def erased(design: Design) -> Design:
    """A copy of ``design`` whose every lognormal layer has one level for all its bins."""
    result = design.copy()
    for layer in result.layers:
        if layer.config.kind == "lognormal":
            layer.mantissas, layer.exponents = _mean_level_codebook(layer)
    return result


# the codebooks a demo writes into its running simulation, in order
FITS = ("generated", "fitted", "erased", "fitted_from_erased", "lognormal_from_erased")


def retune_fits(generated: Design, inputs: np.ndarray, labels: np.ndarray) -> dict[str, Design]:
    """The generated design and its re-tunes on the training split (codes frozen): every
    level fitted (from the generated codebook, and from the erased one), and the erased one
    refitted by a lognormal's (mu, sigma) alone, two numbers per layer."""
    from jaynes_hw.quantize.tune import fit_codebooks, fit_lognormal

    logit_scale = generated.manifest.layers[-1].output_scale
    flat = erased(generated)
    return {
        "generated": generated,
        "fitted": fit_codebooks(generated, inputs, labels, logit_scale).design,
        "erased": flat,
        "fitted_from_erased": fit_codebooks(flat, inputs, labels, logit_scale).design,
        "lognormal_from_erased": fit_lognormal(flat, inputs, labels, logit_scale).design,
    }


def play_codebooks(args, manifest: Path, fits: dict[str, Design], inputs, labels) -> dict:
    """Write each fit's codebooks, in ``FITS`` order, into one running simulation and stream
    ``inputs`` after each; every output must equal that fit's reference. Returns whether
    each phase matched, its accuracy and register writes, and the cycles per inference of
    the first phase (back to back)."""
    from jaynes_hw.quantize.tune import accuracy
    from jaynes_hw.sim.bulk import Phase, playback

    designs = [fits[name] for name in FITS]
    writes = [[]] + [design.codebook_writes() for design in designs[1:]]
    results = playback(
        manifest,
        [Phase(phase_writes, inputs) for phase_writes in writes],
        simulator=args.simulator,
        build_root=args.out / "sim_build",
    )
    matches = [
        bool(np.array_equal(result.outputs, design.forward(inputs)))
        for result, design in zip(results, designs, strict=True)
    ]
    hardware = dict(zip(FITS, (accuracy(r.outputs, labels) for r in results), strict=True))
    retune = {
        "before": hardware["generated"],
        "after": hardware["fitted"],
        "registers_written": len(writes[1]),
        "from_erased": {
            "erased": hardware["erased"],
            "after": hardware["fitted_from_erased"],
            "registers_written": len(writes[3]),
            "lognormal_only": hardware["lognormal_from_erased"],
            "lognormal_parameters": 2 * len(fits["generated"].layers),
        },
        "codebooks": {name: _levels(fits[name]) for name in FITS},
    }
    return {
        "generated": fits["generated"],
        "matches": matches,
        "retune": retune,
        "cycles_per_inference": results[0].cycles_per_vector,
    }


def reference_accuracy(request, core: str, inputs: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy of the network ``request`` describes, built as ``core``, through the bit-exact
    integer reference (no simulation)."""
    from jaynes_hw.contract.codebook import signed_levels
    from jaynes_hw.contract.geometry import run_layer
    from jaynes_hw.generate import build_layers
    from jaynes_hw.quantize.tune import accuracy

    values = inputs
    for layer in build_layers(request, core):
        levels = signed_levels(layer.quantized.codes, layer.quantized.codebook)
        arithmetic = layer.config.arithmetic(layer.shift)
        values = run_layer(arithmetic, levels, values, layer.bias, layer.convolution, layer.scales)
    return accuracy(values, labels)


def generate_fit_and_play(
    args,
    progress,
    started,
    split,
    request,
    provenance,
    inputs,
    accuracies,
    labels,
    *,
    self_test: bool = True,
) -> dict:
    """The demos' common steps from a network description ``request``: generate it
    (``CODE_BITS``-bit lognormal) into ``OUT/rtl``; the int8 core's and a uniform 4-bit
    codebook's accuracy through the reference; the codebook fits (``retune_fits``) on the
    training inputs; the test inputs through the simulator under every fit
    (``play_codebooks``); the board's Fmax. ``inputs``: (training, test) integer inputs in
    the hardware's order; ``accuracies``: ``{"float": ...}``; ``labels``: (network,
    float model) as the summary names them; ``self_test``: build the board's host link with
    its self-test. Returns the JSON document."""
    from jaynes_hw import generate
    from jaynes_hw.support.files import write_text_files

    train_inputs, test_inputs = inputs
    progress.step(f"quantizing ({CODE_BITS}-bit lognormal) and generating the network")
    layers = generate.build_layers(request, "lognormal")
    rendered = generate.render(request.name, layers, provenance)
    written = write_text_files(args.out / "rtl", rendered)
    manifest = next(path for path in written if path.suffix == ".json")
    accuracies = {
        **accuracies,
        "int8": reference_accuracy(request, "int8", test_inputs, split.y_test),
        "int4": reference_accuracy(
            replace(request, scheme="int"), "lognormal", test_inputs, split.y_test
        ),
    }

    progress.step("fitting the codebooks on the training split, codes frozen")
    fits = retune_fits(Design.from_manifest(manifest), train_inputs, split.y_train)

    progress.step(
        f"{args.simulator}: {len(test_inputs)} test images x {len(fits)} codebooks, written "
        "through the configuration port of one running simulation"
    )
    played = play_codebooks(args, manifest, fits, test_inputs, split.y_test)
    board = board_fmax(args, manifest, progress, self_test=self_test)
    return result_document(args, split, *labels, accuracies, played, board, started)


def result_document(
    args, split, network: str, float_model: str, accuracies: dict, played: dict, board, started
) -> dict:
    """A demo's JSON document: accuracies (``float``, ``int8``, ``int4`` given; the hardware's
    from ``played``, ``play_codebooks``'s result), the retune, and the board's rate at
    ``board`` (``board_fmax``'s figures). ``inferences_per_second`` is the core's at the
    clock the chip runs at; ``board_inferences_per_second`` the lesser of that and what
    the host link carries at its default baud: what a host gets from the board."""
    generated = played["generated"]
    cycles = played["cycles_per_inference"]
    core_rate = board["clock_mhz"] * 1e6 / cycles
    link_rate = network_link_rate(generated.manifest.layers, DEFAULT_BAUD)
    return {
        "dataset": f"scikit-learn digits (8x8), {len(split.x_train)} train / "
        f"{len(split.x_test)} test",
        "network": network,
        "float_model": float_model,
        "samples": len(split.x_test),
        "hardware_matches_reference": all(played["matches"]),
        "accuracy": {**accuracies, "lognormal_hw": played["retune"]["before"]},
        "retune": played["retune"],
        "macs_per_inference": sum(layer.macs for layer in generated.manifest.layers),
        "inferences_per_second": core_rate,
        "link_inferences_per_second": link_rate,
        "board_inferences_per_second": min(core_rate, link_rate),
        "board": board
        | {
            "baud": DEFAULT_BAUD,
            "cycles_per_inference": cycles,  # measured, back to back
            "cycles_per_inference_bound": generated.vector_period,
        },
        "phases_matching_reference": played["matches"],
        "simulator": args.simulator,
        "seconds": round(time.monotonic() - started, 1),
    }


def demo_board(args) -> str:
    """The board a demo places and routes for: ``--board``, or the demo's own."""
    return BOARD if args.board is None else args.board


def board_fmax(args, manifest: Path, progress: Progress, *, self_test: bool = True) -> dict:
    """The board's figures: ``name``, ``fmax_mhz`` and ``fmax_source`` (``given`` by
    ``--fmax-mhz``, or ``synthesized``), ``clock_mhz`` (the PLL clock the chip runs at; the
    Fmax when given) and ``timing_met`` (None when given). ``self_test``: build the host
    link's self-test."""
    board = demo_board(args)
    if args.fmax_mhz is not None:
        progress.step(f"Fmax {args.fmax_mhz:g} MHz as given (--fmax-mhz): no FPGA build")
        return {
            "name": board,
            "fmax_mhz": args.fmax_mhz,
            "fmax_source": "given",
            "clock_mhz": args.fmax_mhz,
            "timing_met": None,
        }
    from jaynes_hw.synth.flow import synthesize

    link = "" if self_test else ", the host link without its self-test"
    progress.step(f"placing and routing the network for the {board} (YoWASP yosys + nextpnr{link})")
    report = synthesize(board, manifest, args.out / "synth", self_test=self_test)
    return {
        "name": board,
        "fmax_mhz": float(report["fmax_mhz"]),
        "fmax_source": "synthesized",
        "clock_mhz": report["clock_mhz"],
        "timing_met": report["timing_met"],
    }


def check_tools(args) -> None:
    """Refuse a run whose simulator, FPGA tools or arguments are missing, before it starts."""
    from jaynes_hw.sim.runner import simulator_available

    if args.fmax_mhz is not None and not args.fmax_mhz > 0:
        raise UserError(f"--fmax-mhz must be positive, not {args.fmax_mhz}")
    if not simulator_available(args.simulator):
        raise UserError(f"{args.simulator} is not installed: pip install 'jaynes-hw[sim]'")
    if args.fmax_mhz is None:
        from jaynes_hw.boards import board_named
        from jaynes_hw.support.tools import yowasp_environment

        # the synth extra's tools and board files, checked before the long run
        board = board_named(demo_board(args))
        yowasp_environment(board.family)
        board.platform()
    if args.out.exists() and not args.out.is_dir():
        raise UserError(f"--out {args.out}: not a directory")


def demo(args) -> dict:
    """Run every step; return the results (the JSON document)."""
    from jaynes_hw import generate
    from jaynes_hw.demo.digits import (
        CALIBRATION_IMAGES,
        integer_inputs,
        load_digits_split,
        mlp_logits,
        train_mlp,
    )
    from jaynes_hw.quantize.tune import accuracy
    from jaynes_hw.support.files import save_npy, save_npz

    started = time.monotonic()
    progress = Progress(steps=5, started=started)
    check_tools(args)
    split = load_digits_split()  # needs scikit-learn: before any output
    out = args.out
    out.mkdir(parents=True, exist_ok=True)

    progress.step("training the 64-32-10 MLP on the training split")
    params = train_mlp(split.x_train, split.y_train)
    float_accuracy = accuracy(mlp_logits(params, split.x_test), split.y_test)
    weights_file, calibration_file = out / "digits_mlp.npz", out / "digits_calibration.npy"
    calibration = integer_inputs(split.x_train[:CALIBRATION_IMAGES]).astype(np.int8)
    save_npz(weights_file, params)
    save_npy(calibration_file, calibration)
    train_inputs, test_inputs = integer_inputs(split.x_train), integer_inputs(split.x_test)

    request = replace(
        generate.default_request(),
        source=weights_file,
        calibration=calibration_file,
        scheme="lognormal",
        bits=CODE_BITS,
    )
    provenance = {"demo": "jaynes-hw demo: trained on the digits training split"}
    return generate_fit_and_play(
        args, progress, started, split, request, provenance, (train_inputs, test_inputs),
        {"float": float_accuracy}, ("64-32-10 MLP", "float MLP (numpy)"),
    )  # fmt: skip


def _levels(design: Design) -> list[list[int]]:
    return [layer.levels.tolist() for layer in design.layers if layer.config.kind == "lognormal"]


def format_summary(result: dict) -> str:
    """The final table (plain text)."""
    percent = "{:.2%}".format
    accuracy, retune = result["accuracy"], result["retune"]
    erased_run = retune["from_erased"]
    board = result["board"]
    exact = "all bit-exact" if result["hardware_matches_reference"] else "MISMATCHES"
    writes = f"{retune['registers_written']} register writes"
    simulator = result["simulator"].capitalize()
    sections = {
        f"test accuracy ({result['samples']} images)": [
            (result["float_model"], accuracy["float"], ""),
            (f"{CODE_BITS}-bit lognormal on {simulator}", accuracy["lognormal_hw"],
             f"{result['samples']} x {len(FITS)} phases, {exact}"),
            ("int8 core (bit-exact reference)", accuracy["int8"], ""),
            (f"{CODE_BITS}-bit uniform codebook (reference)", accuracy["int4"], ""),
        ],
        f"retune on {simulator} through the configuration port (codes frozen)": [
            ("codebook as generated", retune["before"], ""),
            ("codebook fitted on the training split", retune["after"], writes),
            ("codebook erased (one level per layer)", erased_run["erased"], writes),
            ("fitted again from the erased one", erased_run["after"], writes),
            ("(mu, sigma) per layer fitted from erased", erased_run["lognormal_only"],
             f"{erased_run['lognormal_parameters']} numbers, {writes}"),
        ],
    }  # fmt: skip
    if board["fmax_source"] == "given":
        clock = f"{board['clock_mhz']:g} MHz (the Fmax given)"
    else:
        met = "meets timing" if board["timing_met"] else "MISSES timing"
        clock = f"the {board['clock_mhz']:g} MHz PLL clock (Fmax {board['fmax_mhz']:g}, {met})"
    lines = [f"jaynes-hw demo: {result['dataset']}", f"network: {result['network']}"]
    for title, rows in sections.items():
        lines += ["", title]
        lines += [
            f"  {label:44} {percent(value):>7}  {note}".rstrip() for label, value, note in rows
        ]
    lines += [
        "",
        f"{board['name']}: {board['cycles_per_inference']:g} cycles/inference at {clock} = "
        f"{result['inferences_per_second']:,.0f} inferences/s for the core, "
        f"{result['link_inferences_per_second']:,.0f} through the host link at "
        f"{board['baud']:,} baud",
        f"took {result['seconds']:.0f} s",
    ]
    return "\n".join(lines)


def run(args) -> int:
    from jaynes_hw.support.files import write_json

    if args.cnn:
        from jaynes_hw.demo.cnn import cnn_demo

        result = cnn_demo(args)
    else:
        result = demo(args)
    print(format_summary(result))
    if args.json is not None:
        write_json(args.json, result)
        print(f"wrote {args.json}")
    return 0 if result["hardware_matches_reference"] else 1
