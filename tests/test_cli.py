"""The command table: every command is reachable, only the chosen one is imported."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from jaynes_hw.cli import COMMANDS, main


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_module_has_the_three_parts(name):
    module = importlib.import_module(COMMANDS[name][0])
    assert isinstance(module.DESCRIPTION, str) and module.DESCRIPTION
    assert callable(module.add_arguments) and callable(module.run)


def test_analyze_does_not_load_amaranth_or_cocotb(tmp_path):
    code = (
        "import sys; from jaynes_hw.cli import build_parser; build_parser(['analyze']); "
        "print(sorted(m for m in ('amaranth', 'cocotb') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert all(name in out for name in COMMANDS)


def test_an_unknown_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fly"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'fly'" in capsys.readouterr().err
