"""``python -m mer_helpers …``: the same command line as the ``mer`` console script."""

import sys

from mer_helpers.cli import main

if __name__ == "__main__":
    sys.exit(main())
