"""`python -m simulator ...` runs the simulator's command line."""

import sys

from simulator.cli import main

sys.exit(main())
