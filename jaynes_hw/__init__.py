"""jaynes-hw: design lognormally connected neural-network accelerators.

The pipeline: ``population`` (load weights, fit their lognormal microstructure),
``quantize`` (codes + tunable codebooks), ``reference`` (the bit-exact integer model),
``gateware`` (Amaranth cores), ``generate`` (Verilog into rtl/), ``synth`` (FPGA flows).
"""

__version__ = "0.1.0"
