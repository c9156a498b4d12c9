"""Re-tune a generated network by its strengths alone: fit every layer's codebook to a task.

The codes (each connection's sign and bin) stay as the hardware stores them; only the K
level registers of each lognormal layer move: all K of them (``fit_codebooks``), or as the
means of a lognormal's bins, two numbers per layer (``fit_lognormal``, the paper's "tune the
lognormal's parameters"). The fit minimises the softmax cross-entropy
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
    ``inputs`` are float (samples, n_in), ``onehot`` the labels (samples, n_out). A
    layer's channel scales c[o] multiply its rows (they are not tuned). A
    convolution runs its dense stand-in on every receptive field; its max pooling passes
    the gradient to the largest value of each window, its average pooling (a sum shifted
    right by ``Pooling.shift``) to all of them.
    """
    by_index = {tunable.index: tunable for tunable in tunables}
    count = len(inputs)
    activations, fields, weights, masks, pooled_from = [inputs], [], [], [], []
    for index, layer in enumerate(design.layers):
        config, convolution = layer.config, layer.convolution
        w = _layer_weights(layer, by_index.get(index), theta) * _row_scales(layer)
        bias = 0.0 if layer.bias is None else layer.bias
        x = activations[-1]
        if convolution is not None:  # (samples * positions, window_size)
            x = _gather(x, convolution.window.gather_index())
        scaled = (x @ w.T + bias) * 2.0**-layer.shift
        low, high = -(1 << (config.out_bits - 1)), (1 << (config.out_bits - 1)) - 1
        if config.relu:
            low = 0
        fields.append(x)
        masks.append((scaled > low) & (scaled < high))
        weights.append(w)
        out = np.clip(scaled, low, high).reshape(count, -1)
        chosen = None
        if convolution is not None and convolution.pooling is not None:
            out, chosen = _pool_forward(convolution.pooling, out)
        pooled_from.append(chosen)
        activations.append(out)
    logits = activations[-1] * logit_scale
    log_probabilities = logits - special.logsumexp(logits, axis=1, keepdims=True)
    loss = -float(np.sum(log_probabilities * onehot)) / count
    gradient = np.zeros_like(theta)
    d_out = (np.exp(log_probabilities) - onehot) * (logit_scale / count)
    for index in reversed(range(len(design.layers))):
        layer = design.layers[index]
        convolution = layer.convolution
        if convolution is not None and convolution.pooling is not None:
            d_out = _pool_backward(convolution.pooling, d_out, pooled_from[index])
        d_out = d_out.reshape(masks[index].shape)
        d_sum = d_out * masks[index] * 2.0**-layer.shift
        tunable = by_index.get(index)
        if tunable is not None:
            d_weights = d_sum.T @ fields[index]
            gradient[tunable.span] = np.bincount(
                tunable.bins.reshape(-1),
                weights=(tunable.signs * _row_scales(layer) * d_weights).reshape(-1),
                minlength=tunable.size,
            )
        if index:
            d_out = d_sum @ weights[index]
            if convolution is not None:
                window = convolution.window
                d_out = _scatter(d_out, window.gather_index(), count, window.values_in)
    return loss, gradient


def _row_scales(layer: DesignLayer):
    """The layer's channel scales as a column (n_out, 1), or 1 without them."""
    return 1 if layer.scales is None else layer.scales[:, None].astype(np.float64)


def _gather(x: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Rows (samples * len(index), index.shape[1]) of ``x[:, index]``, 0 where index is -1."""
    padded = np.concatenate([x, np.zeros((len(x), 1))], axis=1)
    return padded[:, index].reshape(-1, index.shape[1])


def _scatter(d_rows: np.ndarray, index: np.ndarray, count: int, size: int) -> np.ndarray:
    """The gradient (count, size) of ``x`` from that of ``_gather(x, index)``'s rows."""
    d_rows = d_rows.reshape(count, -1)
    flat = np.broadcast_to(index.reshape(-1), d_rows.shape)
    keep = flat >= 0
    samples = np.broadcast_to(np.arange(count)[:, None], d_rows.shape)
    positions = (samples * size + flat)[keep]
    return np.bincount(positions, weights=d_rows[keep], minlength=count * size).reshape(count, size)


def _pool_forward(pooling, images: np.ndarray):
    """The stand-in pooling of images (samples, values_in): (pooled, the input position each
    max came from, or None for an average)."""
    index = pooling.window.gather_index()  # (positions, size * channels), (ky, kx, c) order
    size = pooling.size_y * pooling.size_x
    windows = images[:, index].reshape(len(images), -1, size, pooling.channels)
    if pooling.kind == "average":
        return windows.sum(axis=2).reshape(len(images), -1) * 2.0**-pooling.shift, None
    best = windows.argmax(axis=2)  # (samples, positions, channels)
    where = index.reshape(-1, size, pooling.channels)
    positions = np.take_along_axis(where[None], best[:, :, None, :], axis=2)[:, :, 0, :]
    pooled = np.take_along_axis(windows, best[:, :, None, :], axis=2)[:, :, 0, :]
    return pooled.reshape(len(images), -1), positions.reshape(len(images), -1)


def _pool_backward(pooling, d_pooled: np.ndarray, chosen) -> np.ndarray:
    """The gradient of the pooling's input images from that of its outputs."""
    count = len(d_pooled)
    if chosen is not None:  # max: each output's gradient to the value it took
        samples = np.broadcast_to(np.arange(count)[:, None], chosen.shape)
        flat = (samples * pooling.values_in + chosen).reshape(-1)
        d_images = np.bincount(
            flat, weights=d_pooled.reshape(-1), minlength=count * pooling.values_in
        )
        return d_images.reshape(count, pooling.values_in)
    index = pooling.window.gather_index()
    size = pooling.size_y * pooling.size_x
    d_windows = (
        np.repeat(d_pooled.reshape(count, -1, 1, pooling.channels), size, axis=2)
        * 2.0**-pooling.shift
    )
    return _scatter(d_windows.reshape(count, -1), index, count, pooling.values_in)


def _checked_task(design: Design, inputs, labels, logit_scale: float):
    """(int64 inputs, int64 labels, the tunable layers), or ``UserError``."""
    inputs = np.asarray(inputs, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    if inputs.ndim != 2 or inputs.shape[1] != design.n_in or len(inputs) != len(labels):
        raise UserError(f"a fit needs (samples, {design.n_in}) inputs and one label each")
    if labels.size == 0 or labels.min() < 0 or labels.max() >= design.n_out:
        raise UserError(f"labels must be output indices 0..{design.n_out - 1}")
    if not logit_scale > 0:
        raise UserError(f"logit_scale must be positive, not {logit_scale}")
    tunables = tunable_layers(design)
    if not tunables:
        raise UserError("the network has no lognormal layer: no codebook to tune")
    return inputs, labels, tunables


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
    inputs, labels, tunables = _checked_task(design, inputs, labels, logit_scale)
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


def bin_fractions(layer: DesignLayer) -> np.ndarray:
    """Share of the layer's connections in each of its K bins."""
    _, bins = unpack_codes(layer.stored, layer.config.code_bits)
    counts = np.bincount(bins.reshape(-1), minlength=layer.config.codebook_size)
    return counts / counts.sum()


def fit_lognormal(
    design: Design,
    inputs: np.ndarray,
    labels: np.ndarray,
    logit_scale: float,
    max_iterations: int = 200,
) -> TuneResult:
    """Fit two numbers per lognormal layer, the paper's (mu, sigma), to ``labels``: bin k's
    level is the mean of LN(mu, sigma) over the probability band bin k holds among the
    layer's connections (``lognormal_bin_means``, in integer level units, capped at the
    register maximum). Codes, shifts and biases stay; the levels are rounded to the
    register format. The start is each layer's levels read as a lognormal: mu, sigma of
    the logarithms of its levels weighted by the bins' shares (sigma at least 0.05, so an
    erased layer, all levels one value, starts as a narrow lognormal around it).

    Parameters and result as ``fit_codebooks``.
    """
    from jaynes_hw.quantize.levels import lognormal_bin_means

    inputs, labels, tunables = _checked_task(design, inputs, labels, logit_scale)
    fractions = [bin_fractions(design.layers[t.index]) for t in tunables]
    caps = [float(design.layers[t.index].config.max_level) for t in tunables]

    def levels_of(parameters: np.ndarray) -> np.ndarray:
        return np.concatenate([
            np.minimum(lognormal_bin_means(mu, sigma, share), cap)
            for (mu, sigma), share, cap in zip(parameters.reshape(-1, 2), fractions, caps,
                                              strict=True)
        ])  # fmt: skip

    start = []
    for tunable, share in zip(tunables, fractions, strict=True):
        logs = np.log(np.maximum(design.layers[tunable.index].levels, 1.0))
        mean = float(np.sum(share * logs))
        spread = float(np.sqrt(np.sum(share * (logs - mean) ** 2)))
        sigma = max(spread, 0.05)
        start += [mean - sigma**2 / 2, sigma]  # the mean level stays where it was
    start = np.array(start)
    onehot = np.eye(design.n_out)[labels]
    arguments = (design, tunables, inputs.astype(np.float64), onehot, logit_scale)
    step = 1e-5

    def objective(parameters: np.ndarray):
        loss, d_levels = stand_in_loss(levels_of(parameters), *arguments)
        gradient = np.empty_like(parameters)
        for index in range(parameters.size):  # the K levels' sensitivity to each parameter
            nudge = np.zeros_like(parameters)
            nudge[index] = step
            slope = (levels_of(parameters + nudge) - levels_of(parameters - nudge)) / (2 * step)
            gradient[index] = float(d_levels @ slope)
        return loss, gradient

    bounds = [(None, None), (0.01, 4.0)] * len(tunables)
    solution = optimize.minimize(
        objective, start, jac=True, method="L-BFGS-B", bounds=bounds,
        options={"maxiter": max_iterations},
    )  # fmt: skip
    levels = levels_of(solution.x)
    tuned = design.copy()
    for tunable in tunables:
        layer = tuned.layers[tunable.index]
        layer.mantissas, layer.exponents = layer.config.level_format.encode(levels[tunable.span])
    return TuneResult(
        tuned,
        cross_entropy(design.forward(inputs), labels, logit_scale),
        cross_entropy(tuned.forward(inputs), labels, logit_scale),
        int(solution.nit),
    )
