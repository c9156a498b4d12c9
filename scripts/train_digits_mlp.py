"""Train the default network shipped in jaynes_hw/data/: a 64-32-10 MLP on scikit-learn's
8x8 digits (``jaynes_hw.demo.digits``; the images ship with scikit-learn, nothing is downloaded).

Run once by a maintainer; the result is committed (it is small). Needs scikit-learn
(`pip install 'jaynes-hw[demo]'`):

    python scripts/train_digits_mlp.py jaynes_hw/data

writes ``digits_mlp.npz`` (float32 weights and biases) and ``digits_calibration.npy`` (the
first 64 training images as integer inputs 0..127, which the generator uses to choose each
layer's output shift). ``jaynes-hw demo`` trains the same network again itself.
"""

from __future__ import annotations

import sys

import numpy as np

from jaynes_hw.demo.digits import (
    CALIBRATION_IMAGES,
    integer_inputs,
    load_digits_split,
    mlp_logits,
    train_mlp,
)


def main(directory: str) -> None:
    split = load_digits_split()
    params = train_mlp(split.x_train, split.y_train)
    for name, images, labels in (("train", split.x_train, split.y_train),
                                 ("test", split.x_test, split.y_test)):  # fmt: skip
        accuracy = float(np.mean(mlp_logits(params, images).argmax(1) == labels))
        print(f"{name} accuracy {accuracy:.4f}")
    np.savez(f"{directory}/digits_mlp.npz", **params)
    calibration = integer_inputs(split.x_train[:CALIBRATION_IMAGES]).astype(np.int8)
    np.save(f"{directory}/digits_calibration.npy", calibration)


if __name__ == "__main__":
    main(sys.argv[1])
