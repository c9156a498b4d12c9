"""Where the repository's committed files are."""

from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
RTL = REPOSITORY / "rtl"  # the committed reference designs
DATA = REPOSITORY / "jaynes_hw" / "data"  # the built-in default network
BASELINES = REPOSITORY / "tests" / "data" / "synth_baselines.json"
