"""``python -m longtail``: the ``longtail`` command with this interpreter."""

import sys

from longtail.cli import main

if __name__ == "__main__":
    sys.exit(main())
