"""`python -m codeFeature.serve`: runs codeFeature.apps.api (where its options are documented)."""
import sys

from codeFeature.apps.api import main

if __name__ == "__main__":
    sys.exit(main())
