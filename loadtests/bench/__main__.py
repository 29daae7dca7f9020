"""``python -m loadtests.bench``: run the bench (see loadtests.bench.cli)."""

import sys

from loadtests.bench.cli import main

sys.exit(main())
