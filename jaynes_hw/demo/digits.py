"""scikit-learn's 8x8 handwritten digits and the 64-32-10 MLP the default network is made of.

The digits (1797 images, 10 classes) ship inside scikit-learn: nothing is downloaded. The
split is fixed (25 % test, stratified, seed 0: 1347 training and 450 test images), and so is
the training (plain numpy, full-batch Adam on softmax cross-entropy with L2, seed 0), so
``train_mlp`` reproduces ``jaynes_hw/data/digits_mlp.npz`` on the machine that made it (a
different BLAS may change the last bits).

Images are pixel intensities in [0, 1]; the hardware's inputs are ``round(intensity * 127)``
(``integer_inputs``), 8-bit signed, one LSB = ``INPUT_LSB``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jaynes_hw.support.extras import require_extra

INPUT_LSB = 1 / 127
HIDDEN = 32
STEPS = 3000
LEARNING_RATE = 3e-3
L2 = 1e-4
CALIBRATION_IMAGES = 64  # the first training images; the generator picks shifts with them


@dataclass(frozen=True)
class DigitsSplit:
    """Images (samples, 64) in [0, 1] and labels 0..9, training and test."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load_digits_split() -> DigitsSplit:
    """The fixed training/test split of scikit-learn's digits (needs scikit-learn)."""
    datasets = require_extra("sklearn.datasets", "demo", "the digits dataset (scikit-learn)")
    model_selection = require_extra("sklearn.model_selection", "demo", "scikit-learn")
    digits = datasets.load_digits()
    x = digits.data.astype(np.float64) / 16.0
    x_train, x_test, y_train, y_test = model_selection.train_test_split(
        x, digits.target, test_size=0.25, random_state=0, stratify=digits.target
    )
    return DigitsSplit(x_train, y_train.astype(np.int64), x_test, y_test.astype(np.int64))


def integer_inputs(images: np.ndarray) -> np.ndarray:
    """The hardware's 8-bit inputs for images in [0, 1]: round(intensity / INPUT_LSB)."""
    return np.rint(np.asarray(images) / INPUT_LSB).astype(np.int64)


def mlp_logits(params: dict[str, np.ndarray], images: np.ndarray) -> np.ndarray:
    """Float logits (samples, 10) of the MLP ``params`` (fc1.* and fc2.* tensors)."""
    hidden = np.maximum(images @ params["fc1.weight"].T + params["fc1.bias"], 0)
    return hidden @ params["fc2.weight"].T + params["fc2.bias"]


def train_mlp(images: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """A 64-32-10 ReLU MLP trained on ``images``: float32 ``fc1.weight`` (32, 64),
    ``fc1.bias``, ``fc2.weight`` (10, 32), ``fc2.bias``. About 4 s for the digits."""
    rng = np.random.default_rng(0)
    n_in = images.shape[1]
    params = {
        "fc1.weight": rng.normal(0, np.sqrt(2 / n_in), (HIDDEN, n_in)),
        "fc1.bias": np.zeros(HIDDEN),
        "fc2.weight": rng.normal(0, np.sqrt(1 / HIDDEN), (10, HIDDEN)),
        "fc2.bias": np.zeros(10),
    }
    moments = {name: (np.zeros_like(value), np.zeros_like(value)) for name, value in params.items()}
    onehot = np.eye(10)[labels]
    for step in range(1, STEPS + 1):
        hidden_pre = images @ params["fc1.weight"].T + params["fc1.bias"]
        hidden = np.maximum(hidden_pre, 0)
        logits = hidden @ params["fc2.weight"].T + params["fc2.bias"]
        logits -= logits.max(axis=1, keepdims=True)
        probabilities = np.exp(logits)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        d_logits = (probabilities - onehot) / len(images)
        d_hidden = (d_logits @ params["fc2.weight"]) * (hidden_pre > 0)
        gradients = {
            "fc2.weight": d_logits.T @ hidden + L2 * params["fc2.weight"],
            "fc2.bias": d_logits.sum(axis=0),
            "fc1.weight": d_hidden.T @ images + L2 * params["fc1.weight"],
            "fc1.bias": d_hidden.sum(axis=0),
        }
        for name, gradient in gradients.items():
            first, second = moments[name]
            first[:] = 0.9 * first + 0.1 * gradient
            second[:] = 0.999 * second + 0.001 * gradient**2
            first_hat, second_hat = first / (1 - 0.9**step), second / (1 - 0.999**step)
            params[name] -= LEARNING_RATE * first_hat / (np.sqrt(second_hat) + 1e-8)
    return {name: value.astype(np.float32) for name, value in params.items()}
