"""`python -m simulator ...` runs the simulator's command line."""

import sys

EXIT_INTERRUPTED = 130  # the shell's code for a process stopped by Ctrl-C

try:
    from simulator.cli import main

    code = main()
except KeyboardInterrupt:  # Ctrl-C (the demo's, say) before the simulator took the signals
    code = EXIT_INTERRUPTED
sys.exit(code)
