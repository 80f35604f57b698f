"""The project's exceptions. Each message is written for the person who gave the file, in one line."""
from __future__ import annotations


class GenreClassifierError(Exception):
    """Base class: anything the app reports to the user instead of a traceback."""


class AudioDecodeError(GenreClassifierError):
    """The input is empty, corrupt, not audio, or has no audio track."""


class AudioTooShortError(GenreClassifierError):
    """The audio is shorter than one segment."""


class SilentAudioError(GenreClassifierError):
    """The audio decodes but holds no sound to judge."""


class ModelFilesError(GenreClassifierError):
    """The model files in class_xls/ are missing or unreadable."""


class DatasetError(GenreClassifierError):
    """A training folder is missing, empty or not laid out as genres_original/<genre>/<file>."""
