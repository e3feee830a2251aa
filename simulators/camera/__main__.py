import sys

from simulators.camera.cli import main

raise SystemExit(main(sys.argv[1:]))
