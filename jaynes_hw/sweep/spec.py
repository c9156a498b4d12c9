"""The sweep specification (TOML) and the design points it names.

::

    network = "net.toml"          # a network description (default: the built-in digits MLP)
    # weights = "net.quant.npz"   # or a quantized file from `jaynes-hw quantize`
    board = "icebreaker"          # default board for every point (or sweep it in [grid])
    timeout_minutes = 30          # a point's build is stopped and failed after this
    simulate_vectors = 64         # optional smoke test before synthesis: this many random
                                  # vectors through the Verilog (Verilator), against the
                                  # reference, under stalls and back-pressure (default 0: off)
    test_inputs = "x.npy"         # optional integer inputs (N, n_in) and labels (N,): each
    test_labels = "y.npy"         # point's accuracy through the bit-exact reference

    [grid]                        # every combination of these (each a list)
    core = ["lognormal", "int8"]
    scheme = ["lognormal", "pow2"]
    bits = [3, 4]
    levels = ["m6e2"]             # level register format
    datapath = ["auto", "shared"]
    lanes = [1, 2, 4]             # every layer's lanes
    board = ["icebreaker", "ulx3s"]
    clock_mhz = [48]              # the PLL clock each build runs at (default: the board's
                                  # first-build target, 48 iCE40 / 100 ECP5)
    seed = [1, 2]                 # nextpnr placement seed

    [[point]]                     # and/or single points, with the same keys (not lists)
    core = "int8"
    lanes = 8

Paths are relative to the SPEC file. A point's settings are its grid values plus the
top-level ``board``; keys a point leaves out take the network description's own values.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from jaynes_hw.support.errors import UserError
from jaynes_hw.support.files import read_toml

SPEC_KEYS = {
    "network",
    "weights",
    "board",
    "timeout_minutes",
    "simulate_vectors",
    "test_inputs",
    "test_labels",
    "grid",
    "point",
}
# setting -> the type of one value
SETTINGS = {
    "core": str,
    "scheme": str,
    "bits": int,
    "levels": str,
    "datapath": str,
    "lanes": int,
    "board": str,
    "clock_mhz": float,
    "seed": int,
}
DEFAULT_TIMEOUT_MINUTES = 30.0


@dataclass(frozen=True)
class Point:
    """One design point: its settings as sorted (key, value) pairs (hashable, ordered)."""

    settings: tuple[tuple[str, object], ...]

    @classmethod
    def of(cls, settings: dict) -> Point:
        return cls(tuple(sorted(settings.items())))

    def as_dict(self) -> dict:
        return dict(self.settings)

    def label(self) -> str:
        return " ".join(f"{key}={value}" for key, value in self.settings)


@dataclass(frozen=True)
class SweepSpec:
    """A parsed specification: where the network comes from and the points to build."""

    path: Path
    network: Path | None  # a network TOML; None with no weights: the built-in default
    weights: Path | None  # a quantized file
    points: tuple[Point, ...]
    timeout_seconds: float
    test_inputs: Path | None = None
    test_labels: Path | None = None
    simulate_vectors: int = 0

    def network_fingerprint(self) -> str:
        """A hash of every file that defines the network and its test data (sha256 hex)."""
        digest = hashlib.sha256()
        for path in self.network_files():
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        return digest.hexdigest()

    def network_files(self) -> list[Path]:
        """The network description, the files it names, the quantized file, the test data."""
        files = []
        if self.network is None and self.weights is None:
            with resources.as_file(resources.files("jaynes_hw") / "data") as folder:
                files += sorted(Path(folder).iterdir())
        if self.network is not None:
            files.append(self.network)
            document = read_toml(self.network)
            for key in ("source", "calibration"):
                if isinstance(document.get(key), str):
                    named = self.network.parent / document[key]
                    if named.exists():
                        files.append(named)
        files += [path for path in (self.weights, self.test_inputs, self.test_labels) if path]
        return files


def _value(key: str, value: object, where: str) -> object:
    kind = SETTINGS[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        names = {int: "an integer", float: "a number", str: "a string"}
        raise UserError(f"{key} in {where} must be {names[kind]}, not {value!r}")
    return value


def _settings_table(table: object, where: str, lists: bool) -> dict:
    if not isinstance(table, dict):
        raise UserError(f"{where} must be a table")
    unknown = sorted(set(table) - set(SETTINGS))
    if unknown:
        raise UserError(f"unknown key {unknown[0]!r} in {where} (expected: {', '.join(SETTINGS)})")
    checked = {}
    for key, value in table.items():
        if lists:
            if not isinstance(value, list) or not value:
                raise UserError(f"{key} in {where} must be a non-empty list")
            checked[key] = list(dict.fromkeys(_value(key, item, where) for item in value))
        else:
            checked[key] = _value(key, value, where)
    return checked


def _relative(path: Path, document: dict, key: str) -> Path | None:
    value = document.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise UserError(f"{key} must be a path (a string), not {value!r}")
    named = path.parent / value
    if not named.exists():
        raise UserError(f"{key}: {named}: no such file")
    return named.resolve()  # the workers may run elsewhere, in another directory


def parse_spec(path: Path) -> SweepSpec:
    """Read and check a sweep specification; every error names the file."""
    document = read_toml(path)
    try:
        return _spec(Path(path), document)
    except UserError as error:
        raise UserError(f"{path}: {error}") from None


def _spec(path: Path, document: dict) -> SweepSpec:
    unknown = sorted(set(document) - SPEC_KEYS)
    if unknown:
        raise UserError(f"unknown key {unknown[0]!r} (expected: {', '.join(sorted(SPEC_KEYS))})")
    network = document.get("network", "default")
    if network == "default":
        network_path = None
    else:
        network_path = _relative(path, document, "network")
    weights = _relative(path, document, "weights")
    base = {}
    if "board" in document:
        base["board"] = _value("board", document["board"], "the spec")
    grid = _settings_table(document.get("grid", {}), "[grid]", lists=True)
    listed = document.get("point", [])
    if not isinstance(listed, list):
        raise UserError("[[point]] must be an array of tables")
    points: list[Point] = []
    if grid:
        keys = list(grid)
        for values in itertools.product(*(grid[key] for key in keys)):
            points.append(Point.of(base | dict(zip(keys, values, strict=True))))
    for index, table in enumerate(listed):
        points.append(Point.of(base | _settings_table(table, f"[[point]] {index + 1}", False)))
    points = list(dict.fromkeys(points))
    if not points:
        raise UserError("the sweep is empty: give a [grid] with at least one key, or [[point]]s")
    missing_board = [point for point in points if "board" not in point.as_dict()]
    if missing_board:
        raise UserError(f"no board for point {missing_board[0].label()!r}: set board = ...")
    timeout = document.get("timeout_minutes", DEFAULT_TIMEOUT_MINUTES)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise UserError(f"timeout_minutes must be a positive number, not {timeout!r}")
    simulate_vectors = document.get("simulate_vectors", 0)
    if isinstance(simulate_vectors, bool) or not isinstance(simulate_vectors, int):
        raise UserError(f"simulate_vectors must be an integer, not {simulate_vectors!r}")
    if simulate_vectors < 0:
        raise UserError(f"simulate_vectors must be 0 or more, not {simulate_vectors}")
    test_inputs = _relative(path, document, "test_inputs")
    test_labels = _relative(path, document, "test_labels")
    if (test_inputs is None) != (test_labels is None):
        raise UserError("test_inputs and test_labels go together")
    return SweepSpec(
        path=path,
        network=network_path,
        weights=weights,
        points=tuple(points),
        timeout_seconds=60.0 * float(timeout),
        test_inputs=test_inputs,
        test_labels=test_labels,
        simulate_vectors=simulate_vectors,
    )


def point_key(network_fingerprint: str, point: Point, tools: dict, spec: SweepSpec) -> str:
    """The cache key of a point: everything that defines its result (sha256, 16 hex)."""
    document = {
        "network": network_fingerprint,
        "point": point.as_dict(),
        "tools": tools,
        "timeout_seconds": spec.timeout_seconds,
        "simulate_vectors": spec.simulate_vectors,
    }
    encoded = json.dumps(document, sort_keys=True).encode()
    return hashlib.sha256(encoded).hexdigest()[:16]
