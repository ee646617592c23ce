"""`python -m lakeops`: the lakeops command."""

import sys

from lakeops.cli import main

sys.exit(main())
