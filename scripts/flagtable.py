"""
Write docs/flags.rst from the flag declarations (see twisted_gor.cli.flagtable).

    python scripts/flagtable.py          # rewrite docs/flags.rst
    python scripts/flagtable.py --check  # exit 1 if it is stale
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from twisted_gor.cli.flagtable import table  # noqa: E402
from twisted_gor.cli.tap import allFlags  # noqa: E402

PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "flags.rst")


def main() -> int:
    text = table(allFlags())
    if "--check" in sys.argv[1:]:
        with open(PATH, encoding="utf-8") as f:
            return 0 if f.read() == text else 1
    with open(PATH, "w", encoding="utf-8") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
