"""The package's layout rules, checked on its source (an AST walk over every module):

- a stage imports only from itself and the stages upstream of it (``STAGE_RANKS``); stages
  of equal rank (``weights`` and ``model``; ``sim``, ``formal`` and ``boards``; ``demo`` and
  ``sweep``) do not import
  each other;
- nothing imports ``jaynes_hw.cli`` but ``jaynes_hw/__main__.py``;
- Amaranth is imported only in ``AMARANTH_ALLOWED``;
- no private name (``_x``) is imported from another module.

The same checker runs on a small synthetic package with one violation of each rule, so the
test is shown to fail when a rule is broken.
"""

from __future__ import annotations

import ast
from fnmatch import fnmatch
from pathlib import Path

import pytest

from tests.helpers.paths import REPOSITORY

# The pipeline, upstream first. Top-level modules: ``__init__`` imports nothing, ``cli``
# (the command table) may import every stage.
STAGE_RANKS = {
    "support": 0,
    "contract": 1,
    "weights": 2,
    "model": 2,
    "analyze": 3,
    "quantize": 4,
    "gateware": 5,
    "generate": 6,
    "sim": 7,
    "formal": 7,
    "boards": 7,
    "synth": 8,
    "demo": 9,
    "sweep": 9,
    "cli": 10,
    "__main__": 11,
}
CLI_IMPORTERS = {"jaynes_hw/__main__.py"}
AMARANTH_ALLOWED = (
    "jaynes_hw/gateware/*.py",
    "jaynes_hw/formal/*.py",
    "jaynes_hw/boards/definitions.py",
    "jaynes_hw/boards/top.py",
    "jaynes_hw/boards/export.py",
    "jaynes_hw/boards/simulated_uart.py",
    "jaynes_hw/generate/emit.py",
)


def _imports(tree: ast.AST):
    """(module imported, names taken from it) for every import statement, lazy ones too."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, [alias.name for alias in node.names]


def _stage(module: str, package: str) -> str | None:
    """The stage a dotted module belongs to (``jaynes_hw.quantize.layer`` -> ``quantize``)."""
    parts = module.split(".")
    if parts[0] != package or len(parts) < 2:
        return None
    return parts[1]


def layering_violations(root: Path, package: str = "jaynes_hw") -> list[str]:
    """Every broken rule in the package at ``root / package``, one line each."""
    problems = []
    for path in sorted((root / package).rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        own_module = relative.removesuffix(".py").replace("/", ".").removesuffix(".__init__")
        own_stage = _stage(own_module, package)
        tree = ast.parse(path.read_text(), filename=relative)
        for module, names in _imports(tree):
            root_name = module.split(".")[0]
            if root_name == "amaranth" and not any(
                fnmatch(relative, allowed) for allowed in AMARANTH_ALLOWED
            ):
                problems.append(f"{relative}: imports {module} (Amaranth is not allowed here)")
            if root_name != package:
                continue
            private = [n for n in names if n.startswith("_") and not n.endswith("__")]
            if private:
                problems.append(f"{relative}: imports private {', '.join(private)} from {module}")
            if module == f"{package}.cli" and relative not in CLI_IMPORTERS:
                problems.append(f"{relative}: imports {module} (nothing may import the CLI)")
            # ``from jaynes_hw import generate`` names a stage as an imported name
            targets = [_stage(module, package)] if module != package else names
            for target in targets:
                if target in (None, own_stage, "cli") or target not in STAGE_RANKS:
                    continue  # the CLI rule above covers imports of the CLI
                if own_stage not in STAGE_RANKS:
                    problems.append(f"{relative}: {own_stage!r} is not a stage of the layout")
                elif STAGE_RANKS[target] >= STAGE_RANKS[own_stage]:
                    problems.append(
                        f"{relative}: {own_stage} imports {target}, which is not upstream of it"
                    )
    return problems


def test_the_package_keeps_its_layering():
    assert layering_violations(REPOSITORY) == []


def test_every_stage_folder_is_in_the_layout():
    folders = {path.parent.name for path in (REPOSITORY / "jaynes_hw").glob("*/__init__.py")}
    assert folders <= set(STAGE_RANKS), folders - set(STAGE_RANKS)


def test_every_stage_states_its_purpose_and_public_names():
    for init in sorted((REPOSITORY / "jaynes_hw").glob("*/__init__.py")):
        tree = ast.parse(init.read_text())
        assert ast.get_docstring(tree), f"{init} has no docstring"
        assigned = {
            target.id
            for node in tree.body
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        assert "__all__" in assigned, f"{init} does not list its public names (__all__)"


@pytest.mark.parametrize(
    "module, source, expected",
    [
        ("jaynes_hw/contract/x.py", "from jaynes_hw.quantize import layer", "not upstream"),
        ("jaynes_hw/sim/x.py", "import jaynes_hw.boards.client", "not upstream"),
        ("jaynes_hw/analyze/x.py", "from jaynes_hw import generate", "not upstream"),
        ("jaynes_hw/support/x.py", "def f():\n    from jaynes_hw.demo import command", "upstream"),
        ("jaynes_hw/synth/x.py", "from jaynes_hw.cli import COMMANDS", "nothing may import"),
        ("jaynes_hw/quantize/x.py", "from amaranth.hdl import Signal", "Amaranth"),
        ("jaynes_hw/generate/build.py", "import amaranth", "Amaranth"),
        ("jaynes_hw/boards/x.py", "from jaynes_hw.gateware.core import _helper", "private"),
    ],
)
def test_the_checker_catches_each_kind_of_violation(tmp_path, module, source, expected):
    """A forbidden import added to a package makes the layering test fail."""
    for stage in STAGE_RANKS:
        (tmp_path / "jaynes_hw" / stage).mkdir(parents=True, exist_ok=True)
    target = tmp_path / module
    target.write_text(source + "\n")
    problems = layering_violations(tmp_path)
    assert len(problems) == 1 and expected in problems[0], problems


def test_the_checker_passes_allowed_imports(tmp_path):
    (tmp_path / "jaynes_hw" / "synth").mkdir(parents=True)
    (tmp_path / "jaynes_hw" / "gateware").mkdir(parents=True)
    (tmp_path / "jaynes_hw" / "synth" / "x.py").write_text(
        "from jaynes_hw.boards import BOARDS\nfrom jaynes_hw.synth.flow import run_flow\n"
    )
    (tmp_path / "jaynes_hw" / "gateware" / "y.py").write_text("from amaranth.hdl import Signal\n")
    (tmp_path / "jaynes_hw" / "__main__.py").write_text("from jaynes_hw.cli import main\n")
    assert layering_violations(tmp_path) == []
