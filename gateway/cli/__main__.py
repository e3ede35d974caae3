"""`python -m gateway.cli ...` is `gridgate ...` (the tests start the gateway this way)."""

import sys

from gateway.cli import main

sys.exit(main())
