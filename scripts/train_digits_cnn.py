"""Train and export jaynes_hw/data/digits_cnn.onnx: a small CNN on scikit-learn's 8x8 digits
(the fixed split of ``jaynes_hw.demo.digits``; nothing is downloaded), the convolutional
network of ``jaynes-hw demo --cnn`` and its end-to-end test.

    conv 3x3, 1 -> 8 channels, padding 1 -> ReLU -> max pool 2x2      8x8x1 -> 4x4x8
    conv 3x3, 8 -> 16 channels            -> ReLU                     -> 2x2x16
    flatten -> dense 64 -> 10                                          -> 10 logits

Run once by a maintainer; the result is committed (about 8 kB). Needs PyTorch and
onnxscript (`pip install 'jaynes-hw[torch,demo]'`); CPU, seed 0, full-batch Adam:

    python scripts/train_digits_cnn.py jaynes_hw/data/digits_cnn.onnx
"""

from __future__ import annotations

import sys

import torch

from jaynes_hw.demo.digits import load_digits_split

STEPS = 600
LEARNING_RATE = 1e-2
WEIGHT_DECAY = 1e-4


def digits_cnn() -> torch.nn.Sequential:
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 16, 3),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(16 * 2 * 2, 10),
    )


def main(out: str) -> None:
    torch.manual_seed(0)
    split = load_digits_split()
    images = torch.tensor(split.x_train, dtype=torch.float32).reshape(-1, 1, 8, 8)
    labels = torch.tensor(split.y_train)
    net = digits_cnn()
    optimiser = torch.optim.Adam(net.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    for _ in range(STEPS):
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(images), labels)
        loss.backward()
        optimiser.step()
    net.eval()
    test = torch.tensor(split.x_test, dtype=torch.float32).reshape(-1, 1, 8, 8)
    with torch.no_grad():
        accuracy = float((net(test).argmax(1).numpy() == split.y_test).mean())
    program = torch.onnx.export(
        net,
        (test[:1],),
        dynamo=True,
        input_names=["pixels"],
        output_names=["logits"],
        dynamic_shapes=({0: torch.export.Dim("batch")},),
    )
    program.save(out, external_data=False)  # one file, the weights inside
    print(f"wrote {out}: test accuracy {accuracy:.4f}, final loss {loss.item():.4f}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "jaynes_hw/data/digits_cnn.onnx")
