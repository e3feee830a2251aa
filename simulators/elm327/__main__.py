"""`python -m simulators.elm327 --tcp 127.0.0.1:35000 --profile petrol-can`."""

import sys

from .cli import main

sys.exit(main())
