"""``python -m verpd`` runs the command-line interface."""

from verpd.cli import main

raise SystemExit(main())
