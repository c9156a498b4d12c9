"""Stage 3, generate: a network description into Verilog layer cores, a manifest and memory
images (``python -m jaynes_hw.generate``).

- ``config``: the TOML network description (``parse_config``, ``NetworkRequest``,
  ``default_request``) and a run's ``GenerationPlan`` (``plan_generation``);
- ``build``: integer layers, shifts and biases (``build_layers`` -> ``BuiltLayer``);
- ``emit``: the Amaranth ``Network``, its Verilog and the manifest (``render``; the only
  step that imports Amaranth);
- ``command``: the command line.

``generate(plan, out)`` does all of it and writes the files, each atomically, only once
everything has been built.
"""

from __future__ import annotations

from pathlib import Path

from jaynes_hw.generate.build import BuiltLayer, build_layers, build_plan
from jaynes_hw.generate.config import (
    DEFAULT_CONFIG,
    GenerationPlan,
    LayerRequest,
    NetworkRequest,
    default_request,
    parse_config,
    plan_generation,
)
from jaynes_hw.generate.emit import build_network, render
from jaynes_hw.support.files import write_text_files


def generate(plan: GenerationPlan, out: Path) -> list[Path]:
    """Build ``plan``'s network and write its files into ``out``; returns the paths written
    (the Verilog first, the manifest ``NAME.json`` among them)."""
    return write_text_files(out, render(plan.name, build_plan(plan), plan.provenance))


__all__ = [
    "DEFAULT_CONFIG",
    "BuiltLayer",
    "GenerationPlan",
    "LayerRequest",
    "NetworkRequest",
    "build_layers",
    "build_network",
    "build_plan",
    "default_request",
    "generate",
    "parse_config",
    "plan_generation",
    "render",
]
