"""``python -m FusionCINNLib`` is the same as the ``fusioncinn`` command."""

import sys

from .cli.main import main

sys.exit(main())
