"""``python -m tlcourse.cli`` = the ``tlcourse`` command."""
import sys

from tlcourse.cli import main

sys.exit(main())
