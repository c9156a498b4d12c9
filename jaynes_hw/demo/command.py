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
5. place and route the network for the iCEBreaker (``jaynes_hw.synth``) for its Fmax, and
   report inferences per second = Fmax / cycles per inference (the vector period measured
   in the simulation, back-to-back vectors). ``--fmax-mhz`` skips the build.

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
from jaynes_hw.sim.runner import SIMULATORS
from jaynes_hw.support.errors import UserError

DESCRIPTION = (
    "Train the 64-32-10 digits MLP, quantize it (4-bit lognormal), generate it, run the whole "
    "test split through the Verilator simulation (bit-exact against the reference), fit the "
    "codebooks on the training split with the codes frozen and write them into the running "
    "simulation, and report inferences/s on an iCEBreaker. Needs the demo, sim and synth "
    "extras."
)

BOARD = "icebreaker"
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


def reference_accuracy(request, core: str, inputs: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy of the network ``request`` describes, built as ``core``, through the bit-exact
    integer reference (no simulation)."""
    from jaynes_hw.contract.codebook import signed_levels
    from jaynes_hw.contract.reference import reference_layer
    from jaynes_hw.generate import build_layers
    from jaynes_hw.quantize.tune import accuracy

    values = inputs
    for layer in build_layers(request, core):
        levels = signed_levels(layer.quantized.codes, layer.quantized.codebook)
        values = reference_layer(layer.config.arithmetic(layer.shift), levels, values, layer.bias)
    return accuracy(values, labels)


def _fmax(args, manifest: Path, progress: Progress) -> tuple[float, str]:
    if args.fmax_mhz is not None:
        progress.step(f"Fmax {args.fmax_mhz:g} MHz as given (--fmax-mhz): no FPGA build")
        return args.fmax_mhz, "given"
    from jaynes_hw.synth.flow import synthesize

    progress.step(f"placing and routing the network for the {BOARD} (YoWASP yosys + nextpnr)")
    report = synthesize(BOARD, manifest, args.out / "synth")
    return float(report["fmax_mhz"]), "synthesized"


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
    from jaynes_hw.quantize.tune import accuracy, fit_codebooks
    from jaynes_hw.sim.bulk import Phase, playback
    from jaynes_hw.sim.runner import simulator_available
    from jaynes_hw.support.files import save_npy, save_npz, write_text_files

    started = time.monotonic()
    progress = Progress(steps=5, started=started)
    if args.fmax_mhz is not None and not args.fmax_mhz > 0:
        raise UserError(f"--fmax-mhz must be positive, not {args.fmax_mhz}")
    if not simulator_available(args.simulator):
        raise UserError(f"{args.simulator} is not installed: pip install 'jaynes-hw[sim]'")
    if args.fmax_mhz is None:
        from jaynes_hw.boards import board_named
        from jaynes_hw.support.tools import yowasp_environment

        # the synth extra's tools and board files, checked before the long run
        yowasp_environment("ice40")
        board_named(BOARD).platform()
    split = load_digits_split()  # needs scikit-learn: before any output
    out = args.out
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: not a directory")
    out.mkdir(parents=True, exist_ok=True)

    progress.step("training the 64-32-10 MLP on the training split")
    params = train_mlp(split.x_train, split.y_train)
    float_accuracy = accuracy(mlp_logits(params, split.x_test), split.y_test)
    weights_file, calibration_file = out / "digits_mlp.npz", out / "digits_calibration.npy"
    calibration = integer_inputs(split.x_train[:CALIBRATION_IMAGES]).astype(np.int8)
    save_npz(weights_file, params)
    save_npy(calibration_file, calibration)
    train_inputs, test_inputs = integer_inputs(split.x_train), integer_inputs(split.x_test)

    progress.step(f"quantizing ({CODE_BITS}-bit lognormal) and generating the network")
    request = replace(
        generate.default_request(),
        source=weights_file,
        calibration=calibration_file,
        scheme="lognormal",
        bits=CODE_BITS,
    )
    layers = generate.build_layers(request, "lognormal")
    provenance = {"demo": "jaynes-hw demo: trained on the digits training split"}
    rendered = generate.render(request.name, layers, provenance)
    written = write_text_files(out / "rtl", rendered)
    manifest = next(path for path in written if path.suffix == ".json")
    int8_accuracy = reference_accuracy(request, "int8", test_inputs, split.y_test)
    int4_request = replace(request, scheme="int")
    int4_accuracy = reference_accuracy(int4_request, "lognormal", test_inputs, split.y_test)

    progress.step("fitting the codebooks on the training split, codes frozen")
    generated = Design.from_manifest(manifest)
    logit_scale = generated.manifest.layers[-1].output_scale
    retuned = fit_codebooks(generated, train_inputs, split.y_train, logit_scale).design
    flat = erased(generated)
    refitted = fit_codebooks(flat, train_inputs, split.y_train, logit_scale).design

    progress.step(
        f"{args.simulator}: {len(test_inputs)} test images x 4 codebooks, written through "
        "the configuration port of one running simulation"
    )
    phases = [generated, retuned, flat, refitted]
    writes = [[], retuned.codebook_writes(), flat.codebook_writes(), refitted.codebook_writes()]
    results = playback(
        manifest,
        [Phase(phase_writes, test_inputs) for phase_writes in writes],
        simulator=args.simulator,
        build_root=out / "sim_build",
    )
    matches = [
        bool(np.array_equal(result.outputs, design.forward(test_inputs)))
        for result, design in zip(results, phases, strict=True)
    ]
    hardware = [accuracy(result.outputs, split.y_test) for result in results]
    cycles_per_inference = results[0].cycles_per_vector

    fmax_mhz, fmax_source = _fmax(args, manifest, progress)
    seconds = time.monotonic() - started
    return {
        "dataset": f"scikit-learn digits (8x8), {len(split.x_train)} train / "
        f"{len(test_inputs)} test",
        "samples": len(test_inputs),
        "hardware_matches_reference": all(matches),
        "accuracy": {
            "float": float_accuracy,
            "lognormal_hw": hardware[0],
            "int8": int8_accuracy,
            "int4": int4_accuracy,
        },
        "retune": {
            "before": hardware[0],
            "after": hardware[1],
            "registers_written": len(writes[1]),
            "from_erased": {
                "erased": hardware[2],
                "after": hardware[3],
                "registers_written": len(writes[3]),
            },
            "codebooks": {
                "generated": _levels(generated),
                "fitted": _levels(retuned),
                "erased": _levels(flat),
                "fitted_from_erased": _levels(refitted),
            },
        },
        "inferences_per_second_icebreaker": fmax_mhz * 1e6 / cycles_per_inference,
        "icebreaker": {
            "fmax_mhz": fmax_mhz,
            "fmax_source": fmax_source,
            "cycles_per_inference": cycles_per_inference,
        },
        "phases_matching_reference": matches,
        "simulator": args.simulator,
        "seconds": round(seconds, 1),
    }


def _levels(design: Design) -> list[list[int]]:
    return [layer.levels.tolist() for layer in design.layers if layer.config.kind == "lognormal"]


def format_summary(result: dict) -> str:
    """The final table (plain text)."""
    percent = "{:.2%}".format
    accuracy, retune = result["accuracy"], result["retune"]
    erased_run = retune["from_erased"]
    board = result["icebreaker"]
    exact = "all bit-exact" if result["hardware_matches_reference"] else "MISMATCHES"
    writes = f"{retune['registers_written']} register writes"
    simulator = result["simulator"].capitalize()
    sections = {
        f"test accuracy ({result['samples']} images)": [
            ("float MLP (numpy)", accuracy["float"], ""),
            (f"{CODE_BITS}-bit lognormal on {simulator}", accuracy["lognormal_hw"],
             f"{result['samples']} x 4 phases, {exact}"),
            ("int8 core (bit-exact reference)", accuracy["int8"], ""),
            (f"{CODE_BITS}-bit uniform codebook (reference)", accuracy["int4"], ""),
        ],
        f"retune on {simulator} through the configuration port (codes frozen)": [
            ("codebook as generated", retune["before"], ""),
            ("codebook fitted on the training split", retune["after"], writes),
            ("codebook erased (one level per layer)", erased_run["erased"], writes),
            ("fitted again from the erased one", erased_run["after"], writes),
        ],
    }  # fmt: skip
    lines = [f"jaynes-hw demo: {result['dataset']}, 64-32-10 MLP"]
    for title, rows in sections.items():
        lines += ["", title]
        lines += [
            f"  {label:44} {percent(value):>7}  {note}".rstrip() for label, value, note in rows
        ]
    lines += [
        "",
        f"iCEBreaker: {board['cycles_per_inference']:g} cycles/inference at "
        f"{board['fmax_mhz']:g} MHz ({board['fmax_source']} Fmax) = "
        f"{result['inferences_per_second_icebreaker']:,.0f} inferences/s",
        f"took {result['seconds']:.0f} s",
    ]
    return "\n".join(lines)


def run(args) -> int:
    from jaynes_hw.support.files import write_json

    result = demo(args)
    print(format_summary(result))
    if args.json is not None:
        write_json(args.json, result)
        print(f"wrote {args.json}")
    return 0 if result["hardware_matches_reference"] else 1
