"""``jaynes-hw import MODEL.onnx``: a trained dense network into a network description."""

from __future__ import annotations

import argparse
from pathlib import Path

DESCRIPTION = (
    "Read an ONNX model (from torch.onnx.export, tf2onnx, skl2onnx ...) and write the network "
    "description the generator takes: NAME.toml, readable and editable, beside NAME.npz with "
    "its float weights. Dense layers (Gemm / MatMul + Add), convolutions (Conv, 1-D and 2-D) "
    "with max or average pooling, BatchNormalization folded, ReLU, Flatten; anything else is "
    "refused with the node that has it."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, help="the ONNX model")
    parser.add_argument(
        "--out", type=Path, help="the network description to write (default: MODEL's stem.toml)"
    )
    parser.add_argument(
        "--inputs",
        type=Path,
        metavar="CALIB.npy",
        help="float inputs (N, ...) in the model's own layout: set the input scale and choose "
        "the output shifts",
    )


def run(args: argparse.Namespace) -> int:
    from jaynes_hw.model.network_file import write_network
    from jaynes_hw.model.onnx_import import import_onnx
    from jaynes_hw.support.files import load_npy

    model = import_onnx(args.model)
    calibration = None if args.inputs is None else load_npy(args.inputs)
    out = args.out or Path(f"{args.model.stem}.toml")
    written = write_network(model, out, calibration)
    removed = f"; removed {', '.join(model.removed)}" if model.removed else ""
    print(f"imported {args.model}: {model.kinds_text} ({model.shape_text}){removed}")
    for path in written:
        print(f"  wrote {path}")
    return 0
