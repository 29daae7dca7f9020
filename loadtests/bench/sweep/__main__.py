"""``python -m loadtests.bench.sweep``: run the model-cost sweep (see loadtests.bench.sweep.cli)."""

import sys

from loadtests.bench.sweep.cli import main

sys.exit(main())
