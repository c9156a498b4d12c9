"""Support: nothing about neural networks or hardware, only what every stage needs.

- ``errors``: ``UserError`` and ``run_reporting_errors``, the one-line reporter;
- ``arguments``: argparse types (``positive_int``, ``positive_float``, ``unit_fraction``,
  ``comma_list``);
- ``files``: atomic writes (``atomic_output``, ``write_json``, ``write_csv``, ``write_text``,
  ``write_text_files``, ``save_npy``, ``save_npz``);
- ``extras``: ``require_extra``, an optional dependency or the ``pip install`` line for it;
- ``tools``: the external tools (Verilator, YoWASP yosys/nextpnr, Icarus), found in one place.
"""

from jaynes_hw.support.errors import UserError, run_reporting_errors
from jaynes_hw.support.extras import require_extra
from jaynes_hw.support.files import (
    atomic_output,
    json_safe,
    save_npy,
    save_npz,
    write_csv,
    write_json,
    write_text,
    write_text_files,
)

__all__ = [
    "UserError",
    "atomic_output",
    "json_safe",
    "require_extra",
    "run_reporting_errors",
    "save_npy",
    "save_npz",
    "write_csv",
    "write_json",
    "write_text",
    "write_text_files",
]
