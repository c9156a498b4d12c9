"""The demo: the toolkit end to end on real data (scikit-learn's 8x8 digits).

- ``digits``: the fixed split, the 64-32-10 MLP and its numpy training (the built-in default
  network is this MLP);
- ``command``: ``jaynes-hw demo``: train, quantize, generate, simulate the whole test split,
  retune through the configuration port, iCEBreaker throughput.
"""

from jaynes_hw.demo.digits import DigitsSplit, integer_inputs, load_digits_split, train_mlp

__all__ = ["DigitsSplit", "integer_inputs", "load_digits_split", "train_mlp"]
