"""Stage 9, sweep: design-space exploration on a Dask cluster (``jaynes-hw sweep``).

- ``spec``: the sweep specification (TOML) and its points (``parse_spec``, ``Point``);
- ``point``: one point built on a worker (``build_point``, ``PointJob``);
- ``run``: cache, tasks, results and the Pareto front (``run_sweep``);
- ``command``: the command line.
"""

from jaynes_hw.sweep.run import SweepResult, run_sweep
from jaynes_hw.sweep.spec import Point, SweepSpec, parse_spec

__all__ = ["Point", "SweepResult", "SweepSpec", "parse_spec", "run_sweep"]
