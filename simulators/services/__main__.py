"""`python -m simulators.services nhtsa|manufacturer ...`"""

import sys

from simulators.services.cli import manufacturer_main, nhtsa_main

if __name__ == "__main__":
    mains = {"nhtsa": nhtsa_main, "manufacturer": manufacturer_main}
    if len(sys.argv) < 2 or sys.argv[1] not in mains:
        print("usage: python -m simulators.services nhtsa|manufacturer [options]", file=sys.stderr)
        sys.exit(2)
    sys.exit(mains[sys.argv[1]](sys.argv[2:]))
