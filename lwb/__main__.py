"""``python -m lwb``: the command line."""

from lwb.cli import main

raise SystemExit(main())
