"""``python -m lixian``."""

from lixian.cli.main import main

raise SystemExit(main())
