"""``jaynes-hw demo --cnn``: a convolutional network from PyTorch, through ONNX, onto the
simulated accelerator.

1. load scikit-learn's digits (the fixed split of ``jaynes_hw.demo.digits``) and import
   ``jaynes_hw/data/digits_cnn.onnx`` (``scripts/train_digits_cnn.py``: conv 3x3 1->8, ReLU,
   max pool 2x2, conv 3x3 8->16, ReLU, dense 64->10, trained with PyTorch and exported by
   ``torch.onnx.export``); the float model's test accuracy;
2. write its network description (calibrated on the first training images), give its layers
   the lanes the board holds (``LANES``), and generate it with 4-bit lognormal codes;
   the int8 core's and a 4-bit uniform codebook's accuracy through the bit-exact reference;
3. fit the codebooks on the training split with the codes frozen, as the MLP demo does:
   every level (from the generated and from the erased codebook) and a lognormal's (mu,
   sigma) alone from the erased one (``jaynes_hw.demo.command.retune_fits``);
4. run the whole test split, images channel-last, through the Verilator simulation of the
   Verilog once per codebook, written through the configuration port of one running
   simulation: every output must equal the reference of the codebook written;
5. the board's Fmax (the iCEBreaker by default, its host link built without the self-test;
   placed and routed, or ``--fmax-mhz``) and inferences/s at the cycles per image measured
   in the simulation.
"""

from __future__ import annotations

import time
from dataclasses import replace
from importlib import resources

from jaynes_hw.demo.command import (
    CODE_BITS,
    Progress,
    check_tools,
    demo_board,
    generate_fit_and_play,
)

MODEL = "digits_cnn.onnx"
IMAGE_SHAPE = (1, 8, 8)  # the model's input: (channels, height, width)
# lanes of conv1, conv2, dense by board. Each lane multiplies (m6e2 levels) in a DSP, and a
# convolution's channel scales take two more. The UP5K (8 DSPs, 5,280 logic cells): one lane
# each, 7 DSPs and about 5,030 cells with the host link built without its self-test (with
# it, or with two lanes on conv1, the network does not fit: README, "demo --cnn"). The
# ECP5-85F: 4, 3 and 1, where conv1 (64 positions of 2 passes) and conv2 (4 positions of 6
# passes of 73 beats) are the slowest stages, about 1,350 and 1,750 cycles an image.
LANES = {"icebreaker": (1, 1, 1), "ulx3s": (4, 3, 1)}
SELF_TEST = {"icebreaker": False, "ulx3s": True}  # the link's self-test ('T') built


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
    board = demo_board(args)
    layers = tuple(replace(layer, lanes=lanes) for layer, lanes in
                   zip(request.layers, LANES[board], strict=True))  # fmt: skip
    request = replace(request, layers=layers)
    provenance = {"demo": "jaynes-hw demo --cnn", "model": MODEL}
    # the hardware's inputs: round(intensity * 127), channel-last (one channel: the same)
    inputs = tuple(model.hardware_inputs(integer_inputs(images))
                   for images in (train_images, test_images))  # fmt: skip
    return generate_fit_and_play(
        args, progress, started, split, request, provenance, inputs,
        {"float": float_accuracy}, (model.shape_text, "float CNN (PyTorch, through ONNX)"),
        self_test=SELF_TEST[board],
    )  # fmt: skip
