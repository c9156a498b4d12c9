"""Accuracy of the built-in default network (the digits MLP) as the hardware computes it.

Float model vs the bit-exact integer reference of the generated cores (4-bit lognormal,
pow2, lns and int codebooks, and int8), on the 450 held-out test digits
(``jaynes_hw.demo.digits``). Shifts are the generator's "auto" ones, calibrated on 64 training
images. Needs scikit-learn (`pip install 'jaynes-hw[demo]'`). `jaynes-hw demo` runs the
lognormal network on Verilator as well; this is the quick, simulation-free comparison.

    python bench/bench_default_network.py
"""

from __future__ import annotations

import json
from dataclasses import replace

from jaynes_hw.demo.command import reference_accuracy
from jaynes_hw.demo.digits import integer_inputs, load_digits_split, mlp_logits
from jaynes_hw.generate import default_request
from jaynes_hw.weights import iter_tensors


def main() -> None:
    split = load_digits_split()
    request = default_request()
    params = {tensor.name: tensor.load() for tensor in iter_tensors(request.source)}
    accuracy = float((mlp_logits(params, split.x_test).argmax(1) == split.y_test).mean())
    print(json.dumps({"model": "float", "accuracy": round(accuracy, 4)}))
    inputs = integer_inputs(split.x_test)
    for scheme in ("lognormal", "pow2", "lns", "int"):
        variant = replace(request, scheme=scheme)
        accuracy = reference_accuracy(variant, "lognormal", inputs, split.y_test)
        print(json.dumps({"model": f"lognormal/{scheme}", "accuracy": round(accuracy, 4)}))
    accuracy = reference_accuracy(request, "int8", inputs, split.y_test)
    print(json.dumps({"model": "int8", "accuracy": round(accuracy, 4)}))


if __name__ == "__main__":
    main()
