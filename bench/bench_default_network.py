"""Accuracy of the built-in default network (the digits MLP) as the hardware computes it.

Float model vs the bit-exact integer reference of the generated cores (4-bit lognormal,
pow2 and int8), on the 450 held-out test digits of the training split
(scripts/train_digits_mlp.py). Shifts are the generator's "auto" ones, calibrated on 64
training images. Needs scikit-learn for the digits (`pip install scikit-learn`).

    python bench/bench_default_network.py
"""

from __future__ import annotations

import json
from argparse import Namespace
from dataclasses import replace

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from jaynes_hw import generate
from jaynes_hw.codebook import signed_levels
from jaynes_hw.reference import reference_layer


def main() -> None:
    digits = load_digits()
    x = digits.data / 16.0
    _, x_test, _, y_test = train_test_split(
        x, digits.target, test_size=0.25, random_state=0, stratify=digits.target
    )
    request, _, _, _ = generate.request_for(
        Namespace(config=None, weights=None, core=None, scheme=None, name=None)
    )
    weights = np.load(request.source)
    hidden = np.maximum(x_test @ weights["fc1.weight"].T + weights["fc1.bias"], 0)
    logits = hidden @ weights["fc2.weight"].T + weights["fc2.bias"]
    print(json.dumps({"model": "float", "accuracy": float((logits.argmax(1) == y_test).mean())}))
    inputs = np.rint(x_test / request.input_scale).astype(np.int64)
    for core, scheme in (("lognormal", "lognormal"), ("lognormal", "pow2"), ("int8", None)):
        variant = request if scheme is None else replace(request, scheme=scheme)
        layers = generate.build_layers(variant, core)
        values = inputs
        for layer in layers:
            levels = signed_levels(layer.quantized.codes, layer.quantized.codebook)
            values = reference_layer(
                layer.config.arithmetic(layer.shift), levels, values, layer.bias
            )
        accuracy = float((values.argmax(1) == y_test).mean())
        print(json.dumps({"model": core if scheme is None else f"{core}/{scheme}",
                          "shifts": [layer.shift for layer in layers],
                          "accuracy": round(accuracy, 4)}))  # fmt: skip


if __name__ == "__main__":
    main()
