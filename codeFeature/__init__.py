"""codeFeature: decode a song, cut it into ten 3-s segments, compute MFCCs and classify its genre with a small CNN."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's start-up chatter is not for users
