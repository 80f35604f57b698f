"""`python -m codeFeature.report`: runs codeFeature.apps.report (where its options are documented)."""
import sys

from codeFeature.apps.report import main

if __name__ == "__main__":
    sys.exit(main())
