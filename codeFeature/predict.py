"""`python -m codeFeature.predict`: runs codeFeature.apps.cli (where its options are documented)."""
import sys

from codeFeature.apps.cli import main

if __name__ == "__main__":
    sys.exit(main())
