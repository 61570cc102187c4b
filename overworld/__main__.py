import sys

from overworld.cli import main

sys.exit(main())
