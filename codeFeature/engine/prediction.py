"""What classifying a song gives: typed records (a Prediction with its SegmentResults, or a Failure), and the one
JSON form of each that the CLI prints, the API answers and the batch job stores."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SegmentResult:
    """One 3-s segment: its time span (s), genre probabilities, and whether it was silent (left out of the mean)."""

    start: float
    end: float
    probabilities: dict[str, float]
    silent: bool = False

    @property
    def genre(self) -> str:
        return max(self.probabilities, key=self.probabilities.get)


@dataclass(frozen=True)
class Prediction:
    """A song's result: song-level probabilities (from its non-silent segments), the segments, timings, and
    whether the engine is sure (`confident`; if not, `doubt` says why in one line)."""

    file: str
    probabilities: dict[str, float]
    segments: tuple[SegmentResult, ...]
    duration_s: float
    elapsed_s: float
    engine: str
    tags: tuple[tuple[str, float], ...] = ()  # the song's top MSD tags, most likely first (musicnn engines)
    confident: bool = True
    doubt: str | None = None

    @property
    def genre(self) -> str:
        return max(self.probabilities, key=self.probabilities.get)

    def ranked(self) -> list[tuple[str, float]]:
        """(genre, probability) pairs, most likely first."""
        return sorted(self.probabilities.items(), key=lambda item: item[1], reverse=True)

    def to_dict(self) -> dict:
        """The CLI's --json object."""
        return {
            "file": self.file,
            "genre": self.genre,
            "probabilities": _rounded(self.probabilities),
            "segments": [{"start": round(s.start, 3), "end": round(s.end, 3), "silent": s.silent,
                          "probabilities": _rounded(s.probabilities)} for s in self.segments],
            "duration_s": round(self.duration_s, 3),
            "elapsed_s": round(self.elapsed_s, 4),
            "engine": self.engine,
            "tags": {tag: round(p, 4) for tag, p in self.tags},
            "confident": self.confident,
            "doubt": self.doubt,
        }


def _rounded(probabilities: dict[str, float]) -> dict[str, float]:
    return {genre: round(p, 4) for genre, p in probabilities.items()}


@dataclass(frozen=True)
class Failure:
    """An input that could not be classified, with the one-line reason."""

    file: str
    error: str

    def to_dict(self) -> dict:
        return {"file": self.file, "error": self.error}
