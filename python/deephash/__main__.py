"""``python -m deephash``: the same as the ``deephash`` command."""

import sys

from .cli import main

sys.exit(main())
