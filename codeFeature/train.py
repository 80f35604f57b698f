"""`python -m codeFeature.train`: runs codeFeature.training.train (where its options are documented)."""
import sys

from codeFeature.training.train import main

if __name__ == "__main__":
    sys.exit(main())
