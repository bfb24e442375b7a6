"""``python -m wrl``: the command line (``wrl.lab.cli``), as the ``wrl`` script runs it."""

from wrl.lab.cli import main

raise SystemExit(main())
