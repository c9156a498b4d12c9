"""PyTorch modules straight into network descriptions: ``torch.onnx.export`` (the
``torch.export``-based exporter) into a temporary file, then ``import_onnx``.

    import torch
    from jaynes_hw.model import from_torch

    net = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    from_torch(net.eval(), torch.zeros(1, 64), "net.toml", inputs=calibration_images)

Needs the ``torch`` extra (PyTorch and onnxscript, which the exporter uses).
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
import warnings
from pathlib import Path

import numpy as np

from jaynes_hw.model.network_file import write_network
from jaynes_hw.model.onnx_import import ImportedModel, import_onnx, module_name
from jaynes_hw.support.errors import UserError
from jaynes_hw.support.extras import require_extra


def from_torch(
    module,
    example_input,
    out: str | Path | None = None,
    inputs: np.ndarray | None = None,
    name: str | None = None,
) -> ImportedModel:
    """Export ``module`` (in eval mode) on ``example_input`` and import it; with ``out``,
    also write the network description there (see ``write_network``; ``inputs``: float
    calibration inputs). Returns the imported model.

    Raises
    ------
    UserError
        PyTorch or onnxscript missing, an export that fails, or a graph ``import_onnx``
        cannot build.
    """
    torch = require_extra("torch", "torch", "exporting PyTorch modules")
    require_extra("onnxscript", "torch", "exporting PyTorch modules")
    if module.training:
        raise UserError("the module is in training mode: call .eval() before exporting it")
    name = module_name(name or type(module).__name__.lower())
    with tempfile.TemporaryDirectory(prefix="jaynes-hw-torch-") as folder:
        path = Path(folder) / f"{name}.onnx"
        chatter = io.StringIO()
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(chatter), _quiet("torch"):
                warnings.simplefilter("ignore")  # the exporter's own deprecation notices
                torch.onnx.export(module, (example_input,), str(path), dynamo=True)
        except Exception as error:
            detail = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise UserError(f"torch.onnx.export failed: {type(error).__name__}: {detail}") from None
        model = import_onnx(path)
    if out is not None:
        write_network(model, Path(out), inputs)
    return model


@contextlib.contextmanager
def _quiet(name: str):
    """Log records of ``name``'s loggers below ERROR dropped for the block (the exporter
    logs its registry's notices, e.g. torchvision not installed, as warnings)."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
