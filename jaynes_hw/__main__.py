"""``python -m jaynes_hw`` is the ``jaynes-hw`` command."""

import sys

from jaynes_hw.cli import main

sys.exit(main())
