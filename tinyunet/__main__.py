"""``python -m tinyunet COMMAND``: the same command line as the ``tinyunet`` script."""

import sys

from .cli import main

sys.exit(main())
