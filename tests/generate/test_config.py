"""The TOML network description and the run's plan: every bad key or value is one line and
exit 1 with nothing written; names follow the core and the scheme."""

from __future__ import annotations

from pathlib import Path

import pytest

from jaynes_hw.generate import plan_generation
from jaynes_hw.generate.command import main
from tests.helpers.paths import DATA


def _write(tmp_path, text: str) -> Path:
    path = tmp_path / "network.toml"
    path.write_text(text)
    return path


GOOD_LAYERS = '[[layer]]\nweight = "fc1.weight"\nlanes = 4\n'


CONV = "conv = {{ height = 8, width = 8, channels = 1, {} }}\n"
SOURCE = f'source = "{(DATA / "digits_mlp.npz").as_posix()}"\n'


@pytest.mark.parametrize(
    "config_text, extra, message",
    [
        ("name = [", [], "not valid TOML"),
        (SOURCE + GOOD_LAYERS + "colour = 3\n", [], "unknown key 'colour'"),
        (SOURCE, [], "at least one"),
        (SOURCE + GOOD_LAYERS.replace("4", "0"), [], "lanes must be an integer from 1"),
        (SOURCE + GOOD_LAYERS.replace("4", '"4"'), [], "lanes in [[layer]] 1 must be an integer"),
        (SOURCE + GOOD_LAYERS + "shift = 99\n", [], "shift must be 0.."),
        (SOURCE + GOOD_LAYERS.replace("fc1", "fc9"), [], "no tensor named 'fc9.weight'"),
        (SOURCE + GOOD_LAYERS + '[[layer]]\nweight = "fc1.weight"\n', [],
         "takes 64 values but 'fc1.weight' gives 32"),
        (SOURCE + GOOD_LAYERS + 'bias = "fc1.bias"\n', [], "needs input_scale"),
        (SOURCE + "input_scale = 1e-9\n" + GOOD_LAYERS + 'bias = "fc1.bias"\nbias_bits = 4\n',
         [], "raise bias_bits"),
        (SOURCE + 'scheme = "nf4"\n' + GOOD_LAYERS, [], "unknown scheme"),
        (SOURCE + GOOD_LAYERS + "out_bits = 1\n", [], "out_bits must be an integer from 2"),
        (SOURCE + GOOD_LAYERS, ["--name", "2bad"], "not a Verilog identifier"),
        (GOOD_LAYERS, [], "no source weights"),
        (SOURCE + 'levels = "6e2"\n' + GOOD_LAYERS, [], "levels in the network: a level format"),
        (SOURCE + GOOD_LAYERS + 'levels = "m9e9"\n', [], "levels in [[layer]] 1: exponent_bits"),
        (SOURCE + 'datapath = "wide"\n' + GOOD_LAYERS, [], "unknown datapath 'wide'"),
        (SOURCE + GOOD_LAYERS + 'pool = { kind = "max", size = 2 }\n', [],
         "pool in [[layer]] 1 needs conv"),
        (SOURCE + GOOD_LAYERS + CONV.format("kernel = 3"), [],
         "does not fit a 3x3 convolution of 1 channels"),
        (SOURCE + GOOD_LAYERS + CONV.format("kernel = 9"), [],
         "a 9x9 kernel does not fit a padded 8x8 image"),
        (SOURCE + GOOD_LAYERS + CONV.format("kernel = 8, padding = 8"), [], "pad_top must be 0..7"),
        (SOURCE + GOOD_LAYERS + CONV.format("kernel = [8]"), [],
         "kernel in conv in [[layer]] 1 must be an integer or a list of 2"),
        (SOURCE + GOOD_LAYERS + CONV.format("kernel = 8, colour = 1"), [],
         "unknown key 'colour' in conv"),
        (SOURCE + GOOD_LAYERS + CONV.format("kernel = 8") + 'pool = {kind="median", size=1}\n', [],
         "unknown pooling 'median'"),
        (SOURCE + GOOD_LAYERS + CONV.format("kernel = 8") + 'pool = { size = 2 }\n', [],
         "a 2x2 pool does not fit a 1x1 image"),
        (SOURCE + GOOD_LAYERS + CONV.format("kernel = 8") + 'datapath = "unrolled"\n', [],
         "a convolution needs a folded datapath"),
    ],
)  # fmt: skip
def test_bad_configuration_exits_1_with_one_line_and_no_files(
    tmp_path, capsys, config_text, extra, message
):
    config = _write(tmp_path, config_text)
    out = tmp_path / "out"
    status = main(["--config", str(config), "--out", str(out), *extra])
    err = capsys.readouterr().err
    assert status == 1
    assert message in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists() or not any(out.iterdir())


def test_plan_names_follow_core_and_scheme():
    assert plan_generation().name == "digits_mlp"
    assert plan_generation(core="int8").name == "digits_mlp_int8"
    assert plan_generation(scheme="pow2").name == "digits_mlp_pow2"
    assert plan_generation(name="mine").name == "mine"


def test_scheme_is_refused_where_nothing_is_quantized():
    from jaynes_hw.support.errors import UserError

    with pytest.raises(UserError, match="--scheme applies to lognormal cores"):
        plan_generation(core="int8", scheme="pow2")


def test_levels_and_datapath_reach_the_manifest(tmp_path):
    """levels and datapath from the TOML: the network's, and a layer's own overriding it."""
    import json

    text = SOURCE + 'levels = "m8e0"\ndatapath = "shared"\n' + GOOD_LAYERS
    text += '[[layer]]\nweight = "fc2.weight"\nlanes = 2\nlevels = "m5e2"\ndatapath = "per_lane"\n'
    out = tmp_path / "out"
    assert main(["--config", str(_write(tmp_path, text)), "--out", str(out)]) == 0
    (manifest,) = out.glob("*.json")
    configs = [layer["config"] for layer in json.loads(manifest.read_text())["layers"]]
    formats = [(c["mantissa_bits"], c["exponent_bits"], c["datapath"]) for c in configs]
    assert formats == [(8, 0, "shared"), (5, 2, "per_lane")]
