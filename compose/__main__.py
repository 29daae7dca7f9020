"""``python -m compose``: the compose test (see compose.stack)."""

from compose.stack import main

raise SystemExit(main())
