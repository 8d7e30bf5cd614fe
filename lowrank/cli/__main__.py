"""``python -m lowrank.cli``: the same as the ``lowrank-bench`` command."""

import sys

from lowrank.cli import main

sys.exit(main())
