import sys

from testkit.cli import main

sys.exit(main())
