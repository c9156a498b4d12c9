"""Train the default network shipped in jaynes_hw/data/: a 64-32-10 MLP on scikit-learn's
8x8 digits (1797 images, bundled with scikit-learn; nothing is downloaded).

Run once by a maintainer; the result is committed (it is small). Needs scikit-learn
(`pip install scikit-learn`), which the package itself does not depend on:

    python scripts/train_digits_mlp.py jaynes_hw/data

writes ``digits_mlp.npz`` (float32 weights and biases) and ``digits_calibration.npy`` (the
first 64 training images as integer inputs 0..127, which the generator uses to choose each
layer's output shift).

Plain numpy: full-batch Adam on softmax cross-entropy with L2, fixed seed, so the file is
reproducible on one machine (BLAS may change the last bits elsewhere).
"""

from __future__ import annotations

import sys

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

HIDDEN = 32
STEPS = 3000
LEARNING_RATE = 3e-3
L2 = 1e-4


INPUT_LSB = 1 / 127  # the hardware's input: round(intensity * 127), intensity in [0, 1]
CALIBRATION_IMAGES = 64


def main(directory: str) -> None:
    digits = load_digits()
    x = digits.data.astype(np.float64) / 16.0  # pixels in [0, 1]
    x_train, x_test, y_train, y_test = train_test_split(
        x, digits.target, test_size=0.25, random_state=0, stratify=digits.target
    )
    rng = np.random.default_rng(0)
    params = {
        "fc1.weight": rng.normal(0, np.sqrt(2 / 64), (HIDDEN, 64)),
        "fc1.bias": np.zeros(HIDDEN),
        "fc2.weight": rng.normal(0, np.sqrt(1 / HIDDEN), (10, HIDDEN)),
        "fc2.bias": np.zeros(10),
    }
    moments = {k: (np.zeros_like(v), np.zeros_like(v)) for k, v in params.items()}
    onehot = np.eye(10)[y_train]
    for step in range(1, STEPS + 1):
        hidden_pre = x_train @ params["fc1.weight"].T + params["fc1.bias"]
        hidden = np.maximum(hidden_pre, 0)
        logits = hidden @ params["fc2.weight"].T + params["fc2.bias"]
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        d_logits = (probs - onehot) / len(x_train)
        d_hidden = (d_logits @ params["fc2.weight"]) * (hidden_pre > 0)
        grads = {
            "fc2.weight": d_logits.T @ hidden + L2 * params["fc2.weight"],
            "fc2.bias": d_logits.sum(axis=0),
            "fc1.weight": d_hidden.T @ x_train + L2 * params["fc1.weight"],
            "fc1.bias": d_hidden.sum(axis=0),
        }
        for name, grad in grads.items():
            m, v = moments[name]
            m[:] = 0.9 * m + 0.1 * grad
            v[:] = 0.999 * v + 0.001 * grad**2
            m_hat, v_hat = m / (1 - 0.9**step), v / (1 - 0.999**step)
            params[name] -= LEARNING_RATE * m_hat / (np.sqrt(v_hat) + 1e-8)

    def accuracy(inputs, labels):
        hidden = np.maximum(inputs @ params["fc1.weight"].T + params["fc1.bias"], 0)
        return float(
            ((hidden @ params["fc2.weight"].T + params["fc2.bias"]).argmax(1) == labels).mean()
        )

    print(f"train accuracy {accuracy(x_train, y_train):.4f}, test {accuracy(x_test, y_test):.4f}")
    np.savez(f"{directory}/digits_mlp.npz", **{k: v.astype(np.float32) for k, v in params.items()})
    calibration = np.rint(x_train[:CALIBRATION_IMAGES] / INPUT_LSB).astype(np.int8)
    np.save(f"{directory}/digits_calibration.npy", calibration)


if __name__ == "__main__":
    main(sys.argv[1])
