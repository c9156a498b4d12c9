"""``python -m jaynes_hw.generate``: see ``jaynes_hw.generate.command``."""

import sys

from jaynes_hw.generate.command import main

sys.exit(main())
