"""Allow ``python -m simplepyms``."""

from simplepyms.cli import main

raise SystemExit(main())
