"""`python -m toolprm_tasks.cli`: the same as the `toolprmbench` command."""

import sys

from toolprm_tasks.cli import main

sys.exit(main())
