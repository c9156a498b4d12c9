"""Bringing your own model: trained graphs into network descriptions (``jaynes-hw import``).

- ``onnx_import``: an ONNX graph's chain of dense and convolution layers (``import_onnx``,
  ``ImportedModel``);
- ``network_file``: the TOML + npz the generator reads (``write_network``);
- ``torch_export``: a PyTorch module through ``torch.onnx.export`` (``from_torch``);
- ``command``: the command line.
"""

from jaynes_hw.model.network_file import write_network
from jaynes_hw.model.onnx_import import ImportedLayer, ImportedModel, import_onnx
from jaynes_hw.model.torch_export import from_torch

__all__ = ["ImportedLayer", "ImportedModel", "from_torch", "import_onnx", "write_network"]
