"""``python -m opsledger``: the same command line as the ``opsledger`` script."""

from opsledger.cli import main

raise SystemExit(main())
