"""`python -m agent` is the same as the `baygate` console script."""

from agent.cli import main

raise SystemExit(main())
