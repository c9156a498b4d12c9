"""Re-tune a generated network by its strengths alone: fit every layer's codebook to a task.

The codes (each connection's sign and bin) stay as the hardware stores them; only the K
level registers of each lognormal layer move. The fit minimises the softmax cross-entropy
of the network's outputs on labelled inputs, through a smooth stand-in for the integer
datapath (the same sums, shift and saturation, without the rounding), with L-BFGS-B on the
levels and exact gradients; the levels are then rounded to the register format. The result
is judged by the bit-exact reference (``Design.forward``), not by the stand-in.

Cost per iteration: one forward and one backward pass over the inputs (two matrix products
per layer), so fitting the 64-32-10 digits MLP on 1347 images takes about a second.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

from jaynes_hw.contract.codebook import unpack_codes
from jaynes_hw.contract.design import Design, DesignLayer
from jaynes_hw.support.errors import UserError


@dataclass(frozen=True)
class TuneResult:
    """A re-tuned copy of the network and how the fit went (losses on the fitting inputs)."""

    design: Design
    loss_before: float
    loss_after: float
    iterations: int


@dataclass(frozen=True)
class TunableLayer:
    """One lognormal layer's frozen connections: sign and bin of every code, and where its
    K levels sit in the optimiser's parameter vector."""

    index: int  # the layer's place in the network
    signs: np.ndarray  # (n_out, n_in) of +-1.0
    bins: np.ndarray  # (n_out, n_in) int64
    offset: int
    size: int  # K

    @property
    def span(self) -> slice:
        return slice(self.offset, self.offset + self.size)


def cross_entropy(outputs: np.ndarray, labels: np.ndarray, logit_scale: float) -> float:
    """Mean softmax cross-entropy of integer outputs read as logits ``outputs * logit_scale``."""
    logits = np.asarray(outputs, dtype=np.float64) * logit_scale
    chosen = logits[np.arange(len(labels)), labels]
    return float(np.mean(special.logsumexp(logits, axis=1) - chosen))


def accuracy(outputs: np.ndarray, labels: np.ndarray) -> float:
    """Share of rows whose largest output is the label (ties: the first, like argmax)."""
    return float(np.mean(np.argmax(outputs, axis=1) == labels))


def tunable_layers(design: Design) -> list[TunableLayer]:
    """The design's lognormal layers, with their levels laid end to end in one vector."""
    tunables, offset = [], 0
    for index, layer in enumerate(design.layers):
        if layer.config.kind != "lognormal":
            continue
        negative, bins = unpack_codes(layer.stored, layer.config.code_bits)
        signs = np.where(negative, -1.0, 1.0)
        tunables.append(TunableLayer(index, signs, bins, offset, layer.config.codebook_size))
        offset += layer.config.codebook_size
    return tunables


def _layer_weights(layer: DesignLayer, tunable: TunableLayer | None, theta: np.ndarray):
    if tunable is None:
        return layer.weights().astype(np.float64)
    return tunable.signs * theta[tunable.span][tunable.bins]


def stand_in_loss(
    theta: np.ndarray,
    design: Design,
    tunables: list[TunableLayer],
    inputs: np.ndarray,
    onehot: np.ndarray,
    logit_scale: float,
) -> tuple[float, np.ndarray]:
    """Cross-entropy of the smooth stand-in and its gradient with respect to the levels.

    ``theta`` holds every tunable layer's K levels (integer units) at its ``span``;
    ``inputs`` are float (samples, n_in), ``onehot`` the labels (samples, n_out).
    """
    by_index = {tunable.index: tunable for tunable in tunables}
    activations, weights, masks = [inputs], [], []
    for index, layer in enumerate(design.layers):
        config = layer.config
        w = _layer_weights(layer, by_index.get(index), theta)
        bias = 0.0 if layer.bias is None else layer.bias
        scaled = (activations[-1] @ w.T + bias) * 2.0**-layer.shift
        low, high = -(1 << (config.out_bits - 1)), (1 << (config.out_bits - 1)) - 1
        if config.relu:
            low = 0
        masks.append((scaled > low) & (scaled < high))
        weights.append(w)
        activations.append(np.clip(scaled, low, high))
    logits = activations[-1] * logit_scale
    log_probabilities = logits - special.logsumexp(logits, axis=1, keepdims=True)
    count = len(inputs)
    loss = -float(np.sum(log_probabilities * onehot)) / count
    gradient = np.zeros_like(theta)
    d_out = (np.exp(log_probabilities) - onehot) * (logit_scale / count)
    for index in reversed(range(len(design.layers))):
        d_sum = d_out * masks[index] * 2.0 ** -design.layers[index].shift
        tunable = by_index.get(index)
        if tunable is not None:
            d_weights = d_sum.T @ activations[index]
            gradient[tunable.span] = np.bincount(
                tunable.bins.reshape(-1),
                weights=(tunable.signs * d_weights).reshape(-1),
                minlength=tunable.size,
            )
        if index:
            d_out = d_sum @ weights[index]
    return loss, gradient


def fit_codebooks(
    design: Design,
    inputs: np.ndarray,
    labels: np.ndarray,
    logit_scale: float,
    max_iterations: int = 300,
) -> TuneResult:
    """Fit every lognormal layer's K levels to ``labels``; codes, shifts and biases stay.

    Parameters
    ----------
    inputs : int array (samples, n_in)
        The network's integer inputs.
    labels : int array (samples,)
        Class of each sample: the index of the output that should be largest.
    logit_scale : float
        Real value of one output LSB (the last layer's ``output_scale`` in the manifest);
        it sets the softmax temperature of the loss.

    Returns a ``TuneResult`` whose design holds the new mantissas and exponents; losses are
    those of the bit-exact outputs before and after.
    """
    inputs = np.asarray(inputs, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    if inputs.ndim != 2 or inputs.shape[1] != design.n_in or len(inputs) != len(labels):
        raise UserError(f"fit_codebooks needs (samples, {design.n_in}) inputs and one label each")
    if labels.size == 0 or labels.min() < 0 or labels.max() >= design.n_out:
        raise UserError(f"labels must be output indices 0..{design.n_out - 1}")
    if not logit_scale > 0:
        raise UserError(f"logit_scale must be positive, not {logit_scale}")
    tunables = tunable_layers(design)
    if not tunables:
        raise UserError("the network has no lognormal layer: no codebook to tune")
    # the optimiser sees every level as a fraction of its register maximum
    units = np.concatenate(
        [np.full(t.size, float(design.layers[t.index].config.max_level)) for t in tunables]
    )
    start = np.concatenate([design.layers[t.index].levels for t in tunables]) / units
    onehot = np.eye(design.n_out)[labels]
    arguments = (design, tunables, inputs.astype(np.float64), onehot, logit_scale)

    def objective(fractions):
        loss, gradient = stand_in_loss(fractions * units, *arguments)
        return loss, gradient * units

    solution = optimize.minimize(
        objective,
        start,
        jac=True,
        method="L-BFGS-B",
        bounds=[(0.0, 1.0)] * start.size,
        options={"maxiter": max_iterations},
    )
    solution.x = solution.x * units
    tuned = design.copy()
    for tunable in tunables:
        layer = tuned.layers[tunable.index]
        fmt = layer.config.level_format
        values = solution.x[tunable.span]
        layer.mantissas, layer.exponents = fmt.encode(np.clip(values, 0, fmt.max_level))
    return TuneResult(
        tuned,
        cross_entropy(design.forward(inputs), labels, logit_scale),
        cross_entropy(tuned.forward(inputs), labels, logit_scale),
        int(solution.nit),
    )
