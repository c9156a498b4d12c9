"""Reading trained networks: one reader per file format behind a small registry.

``iter_tensors(path)`` lists a weight file's tensors (name, shape, stored dtype) without
reading their data; each ``WeightTensor.load()`` then reads one tensor and returns it as a
float32 (float64 when stored so) numpy array, so peak memory is one tensor. Integer
tensors are listed with a ``skip_reason`` (they are indices or masks), except TFLite
int8/uint8 tensors with quantization scales, which are dequantized. A file's problems become
``UserError`` with the file name. Formats: ``registry.FORMATS`` (numpy, safetensors and
sharded safetensors, ONNX, TFLite, PyTorch, GGUF), each in its own ``*_format`` module.
"""

from jaynes_hw.weights.registry import FORMATS, detect_format, iter_tensors
from jaynes_hw.weights.tensor import WeightTensor

__all__ = ["FORMATS", "WeightTensor", "detect_format", "iter_tensors"]
