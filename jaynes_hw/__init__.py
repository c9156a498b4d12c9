"""jaynes-hw: design lognormally connected neural-network accelerators.

The pipeline, one package per stage, each importing only from those before it:
``support`` -> ``contract`` -> ``weights`` -> ``analyze`` -> ``quantize`` -> ``gateware`` ->
``generate`` -> ``sim`` | ``formal`` | ``boards`` -> ``synth`` -> ``demo``; ``cli`` is the
command table.
"""

__version__ = "0.1.0"
