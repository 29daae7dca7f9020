"""``python -m loadtests.report``: render a run's report (see loadtests.report.render)."""

import sys

from loadtests.report.render import main

sys.exit(main())
