import sys

from poc.cli import main

sys.exit(main())
