"""``jaynes-hw demo --cnn``: a convolutional network from PyTorch, through ONNX, onto the
simulated accelerator.

1. load scikit-learn's digits (the fixed split of ``jaynes_hw.demo.digits``) and import
   ``jaynes_hw/data/digits_cnn.onnx`` (``scripts/train_digits_cnn.py``: conv 3x3 1->8, ReLU,
   max pool 2x2, conv 3x3 8->16, ReLU, dense 64->10, trained with PyTorch and exported by
   ``torch.onnx.export``); the float model's test accuracy;
2. write its network description (calibrated on the first training images), give its layers
   4, 3 and 1 lanes (a DSP each), and generate it with 4-bit lognormal codes;
   the int8 core's and a 4-bit uniform codebook's accuracy through the bit-exact reference;
3. fit the codebooks on the training split with the codes frozen, as the MLP demo does:
   every level (from the generated and from the erased codebook) and a lognormal's (mu,
   sigma) alone from the erased one (``jaynes_hw.demo.command.retune_fits``);
4. run the whole test split, images channel-last, through the Verilator simulation of the
   Verilog once per codebook, written through the configuration port of one running
   simulation: every output must equal the reference of the codebook written;
5. the board's Fmax (the ULX3S by default: the network outgrows the iCE40 UP5K; placed and
   routed, or ``--fmax-mhz``) and inferences/s at the cycles per image measured in the
   simulation.
"""

from __future__ import annotations

import time
from dataclasses import replace
from importlib import resources

from jaynes_hw.demo.command import CODE_BITS, Progress, check_tools, generate_fit_and_play

MODEL = "digits_cnn.onnx"
# three folded cores and the host link are about 5,700 iCE40 logic cells, more than the
# UP5K's 5,280 (README, "demo --cnn"): the ECP5 board by default
BOARD = "ulx3s"
IMAGE_SHAPE = (1, 8, 8)  # the model's input: (channels, height, width)
# lanes of conv1, conv2, dense: each lane multiplies (m6e2 levels), one DSP, so 4 + 3 + 1
# uses 8 (the UP5K's count; the convolutions' channel scale multipliers take 4 more);
# conv1 (64 positions of 2 passes) and conv2 (4 positions of 6 passes of 73 beats) are
# then the slowest stages, about 1,350 and 1,750 cycles an image
LANES = (4, 3, 1)


def cnn_demo(args) -> dict:
    """Run every step; return the results (the JSON document)."""
    from jaynes_hw import generate
    from jaynes_hw.demo.digits import CALIBRATION_IMAGES, integer_inputs, load_digits_split
    from jaynes_hw.model import import_onnx, write_network
    from jaynes_hw.quantize.tune import accuracy

    started = time.monotonic()
    progress = Progress(steps=5, started=started)
    check_tools(args)
    split = load_digits_split()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)

    progress.step(f"importing {MODEL} (PyTorch -> ONNX) and its float test accuracy")
    with resources.as_file(resources.files("jaynes_hw") / "data" / MODEL) as path:
        model = import_onnx(path)
    train_images = split.x_train.reshape(-1, *IMAGE_SHAPE)
    test_images = split.x_test.reshape(-1, *IMAGE_SHAPE)
    float_accuracy = accuracy(model.forward(test_images), split.y_test)

    description = out / "digits_cnn.toml"
    write_network(model, description, train_images[:CALIBRATION_IMAGES])
    request = replace(generate.parse_config(description), bits=CODE_BITS)
    # a multiplier (one UP5K DSP) per lane, 8 on the chip: the most to the busiest layers
    layers = tuple(replace(layer, lanes=lanes) for layer, lanes in
                   zip(request.layers, LANES, strict=True))  # fmt: skip
    request = replace(request, layers=layers)
    provenance = {"demo": "jaynes-hw demo --cnn", "model": MODEL}
    # the hardware's inputs: round(intensity * 127), channel-last (one channel: the same)
    inputs = tuple(model.hardware_inputs(integer_inputs(images))
                   for images in (train_images, test_images))  # fmt: skip
    return generate_fit_and_play(
        args, progress, started, split, request, provenance, inputs,
        {"float": float_accuracy}, (model.shape_text, "float CNN (PyTorch, through ONNX)"),
    )  # fmt: skip
