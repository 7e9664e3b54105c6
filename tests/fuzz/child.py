"""The fuzzer's child: runs the inspector CLI in this process and writes its peak RSS (KiB) to the file
named by INSPECTOR_FUZZ_RSS when it ends, however it ends."""

from __future__ import annotations

import os
import resource
import sys


def _main() -> None:
    from inspector.cli import main

    try:
        main(sys.argv[1:])
    finally:
        with open(os.environ["INSPECTOR_FUZZ_RSS"], "w") as f:
            f.write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))


if __name__ == "__main__":
    _main()
