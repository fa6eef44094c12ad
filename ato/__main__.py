"""``python -m ato`` runs the ``ato`` command."""

from ato.cli import main

raise SystemExit(main())
