"""Write examples/digits_test_{inputs,labels}.npy: the digits test split (the demo's) as the
hardware's 8-bit integer inputs and their labels. Needs scikit-learn (jaynes-hw[demo]).

    python scripts/write_digits_test_split.py
"""

from pathlib import Path

import numpy as np

from jaynes_hw.demo.digits import integer_inputs, load_digits_split

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

if __name__ == "__main__":
    split = load_digits_split()
    np.save(EXAMPLES / "digits_test_inputs.npy", integer_inputs(split.x_test).astype(np.int16))
    np.save(EXAMPLES / "digits_test_labels.npy", split.y_test.astype(np.int16))
