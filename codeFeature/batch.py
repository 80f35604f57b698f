"""`python -m codeFeature.batch`: runs codeFeature.apps.batch (where its options are documented)."""
import sys

from codeFeature.apps.batch import main

if __name__ == "__main__":
    sys.exit(main())
