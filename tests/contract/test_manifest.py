"""The manifest: the committed ones read back to the same text, the network model rebuilt
from them is the reference of what they hold, and bad manifests are one clear error."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jaynes_hw.contract.design import Design
from jaynes_hw.contract.manifest import Manifest, is_manifest
from jaynes_hw.support.errors import UserError
from tests.helpers.paths import RTL

STEMS = ["digits_mlp", "digits_mlp_int8", "digits_mlp_pow2"]


@pytest.mark.parametrize("stem", STEMS)
def test_a_committed_manifest_reads_back_to_the_same_text(stem):
    path = RTL / f"{stem}.json"
    manifest = Manifest.read(path)
    assert manifest.to_text() == path.read_text()
    assert manifest.verilog == f"{stem}.v" and is_manifest(path)
    assert manifest.vector_period_cycles == 8 * (64 + 1) and manifest.full_rate  # 8 passes


@pytest.mark.parametrize("stem", STEMS)
def test_the_design_holds_what_the_memory_images_say(stem):
    design = Design.from_manifest(RTL / f"{stem}.json")
    manifest = design.manifest
    assert [layer.base_address for layer in design.layers] == [
        entry.base_address for entry in manifest.layers
    ]
    first = design.layers[0]
    assert first.stored.shape == (first.config.n_out, first.config.n_in)
    if first.config.kind == "lognormal":
        np.testing.assert_array_equal(first.levels, manifest.layers[0].codebook.levels)
        assert len(design.codebook_writes()) == sum(
            layer.config.codebook_size + 1 for layer in design.layers
        )
    else:
        assert first.stored.min() < 0  # int8 weights come back signed
        assert design.codebook_writes() == []
    x = design.random_inputs(np.random.default_rng(0), 5)
    assert design.forward(x).shape == (5, design.n_out)


def _broken(tmp_path, change) -> str:
    document = json.loads((RTL / "digits_mlp.json").read_text())
    change(document)
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(document))
    with pytest.raises(UserError) as error:
        Manifest.read(path)
    return str(error.value)


def test_bad_manifests_are_one_clear_error(tmp_path):
    assert "not a jaynes-hw manifest" in _broken(tmp_path, lambda d: d.update(format="x"))
    assert "unsupported manifest version" in _broken(tmp_path, lambda d: d.update(version=9))
    assert "not a valid jaynes-hw manifest" in _broken(tmp_path, lambda d: d.pop("layers"))
    assert "has no codebook" in _broken(tmp_path, lambda d: d["layers"][0].update(codebook=None))
    assert "lanes (99) cannot exceed" in _broken(
        tmp_path, lambda d: d["layers"][0]["config"].update(lanes=99)
    )
    (tmp_path / "text.json").write_text("not json")
    with pytest.raises(UserError, match="not a manifest"):
        Manifest.read(tmp_path / "text.json")
    assert not is_manifest(tmp_path / "text.json")
    with pytest.raises(UserError, match="no such file"):
        Manifest.read(tmp_path / "missing.json")
