import sys

from cardioradar.cli import main

sys.exit(main())
