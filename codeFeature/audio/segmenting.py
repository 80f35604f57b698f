"""Cut a song into the ten 3-second segments the model judges.

Rules (durations in seconds, D = the song's length):
- D < 3: AudioTooShortError.
- 3 <= D <= LONG_SONG_S: ten windows spread evenly from 0 to D-3 (a 30-s clip gives the ten consecutive
  segments 0-3, 3-6, ... 27-30; a shorter clip gives overlapping ones).
- D > LONG_SONG_S: the same over the song less a margin at each end (5% of D, at most 10 s), which skips count-ins,
  silence and applause without missing the body of the song.
Only the windows are decoded (see `audio_io.decode`), so a 10-minute file costs about what a 30-s one costs.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from codeFeature.audio import audio_io
from codeFeature.config import (
    LONG_SONG_MARGIN,
    LONG_SONG_S,
    MAX_MARGIN_S,
    MIN_DURATION_S,
    N_SEGMENTS,
    SAMPLE_RATE,
    SEGMENT_SAMPLES,
    SEGMENT_SECONDS,
    SILENCE_DBFS,
)
from codeFeature.errors import AudioTooShortError

# Windows closer than this are decoded as one span (decoding a short gap is cheaper than another seek).
_MERGE_GAP_S = 1.0
# If a span decodes to less than this share of its expected length, the header lied (truncated or VBR file):
# decode the whole file instead, at most this many seconds of it.
_SHORT_SPAN_SHARE = 0.9
_MAX_FULL_DECODE_S = 3600.0


@dataclass(frozen=True)
class Segments:
    """Ten segments of a song: `audio` is (N_SEGMENTS, SEGMENT_SAMPLES) float32 at SAMPLE_RATE, `starts` their
    start times in seconds, `silent` which of them are below SILENCE_DBFS, `duration_s` the song's length."""

    audio: np.ndarray
    starts: tuple[float, ...]
    silent: tuple[bool, ...]
    duration_s: float

    @classmethod
    def of(cls, windows: np.ndarray, starts: Sequence[float], duration_s: float) -> Segments:
        """Segments from cut windows, marking the silent ones."""
        return cls(windows, tuple(starts), tuple(bool(s) for s in is_silent(windows)), duration_s)

    @property
    def ends(self) -> tuple[float, ...]:
        return tuple(start + SEGMENT_SECONDS for start in self.starts)


def segment_starts(duration_s: float) -> list[float]:
    """Start times (s) of the N_SEGMENTS windows for a song of `duration_s` seconds; see the module rules."""
    if duration_s < MIN_DURATION_S:
        raise AudioTooShortError(
            f"The audio is {duration_s:.1f} s long; at least {MIN_DURATION_S:.0f} s are needed.")
    margin = min(LONG_SONG_MARGIN * duration_s, MAX_MARGIN_S) if duration_s > LONG_SONG_S else 0.0
    last = duration_s - margin - SEGMENT_SECONDS
    return [round(float(s), 3) for s in np.linspace(margin, last, N_SEGMENTS)]


class Span(NamedTuple):
    """A stretch of the file decoded in one go: start and length in seconds, and the window starts it serves."""

    start: float
    length: float
    windows: tuple[float, ...]


def merge_spans(starts: Sequence[float]) -> list[Span]:
    """Group sorted window starts into decode spans covering every window once (windows less than _MERGE_GAP_S
    apart share a span)."""
    groups: list[list[float]] = []
    for start in starts:
        last = groups[-1] if groups else None
        if last and start <= last[-1] + SEGMENT_SECONDS + _MERGE_GAP_S:
            last.append(start)
        else:
            groups.append([start])
    return [Span(group[0], max(group) + SEGMENT_SECONDS - group[0], tuple(group)) for group in groups]


def cut(samples: np.ndarray, starts: Sequence[float], offset_s: float = 0.0) -> np.ndarray:
    """Cut SEGMENT_SAMPLES windows at `starts` (s) from `samples` that begin at `offset_s`; zero-pad past the end."""
    out = np.zeros((len(starts), SEGMENT_SAMPLES), dtype=np.float32)
    for i, start in enumerate(starts):
        first = max(0, round(start * SAMPLE_RATE) - round(offset_s * SAMPLE_RATE))  # same grid for every span
        window = samples[first:first + SEGMENT_SAMPLES]
        out[i, :len(window)] = window
    return out


def is_silent(segments: np.ndarray) -> np.ndarray:
    """(n, samples) float audio -> (n,) bool: RMS below SILENCE_DBFS."""
    rms = np.sqrt(np.mean(np.square(segments, dtype=np.float64), axis=-1))
    return 20 * np.log10(np.maximum(rms, 1e-12)) < SILENCE_DBFS


def split_samples(samples: np.ndarray) -> Segments:
    """Segments of an already decoded song (float32 mono at SAMPLE_RATE)."""
    duration = len(samples) / SAMPLE_RATE
    starts = segment_starts(duration)
    return Segments.of(cut(samples, starts), starts, duration)


def load_segments(source: audio_io.AudioSource, suffix: str = "") -> Segments:
    """Decode only the ten windows of `source` (path, bytes or file object) and return them as Segments.

    `suffix` (e.g. ".mp3") names the temporary copy of in-memory input. One ffmpeg process decodes every span (it
    runs its inputs side by side), so training, the page, the CLI and the API judge the same samples of a file.
    Raises AudioDecodeError or AudioTooShortError; a silent song is returned with all segments marked silent.
    """
    with audio_io.as_path(source, suffix) as path:
        duration = audio_io.probe(path)
        if duration is not None and duration >= MIN_DURATION_S:
            starts = segment_starts(duration)
            spans = merge_spans(starts)
            decoded = audio_io.decode(path, [(span.start, span.length) for span in spans])
            if all(len(seg) >= _SHORT_SPAN_SHARE * span.length * 1000 for seg, span in zip(decoded, spans)):
                windows = np.concatenate([cut(audio_io.to_float(seg), span.windows, span.start)
                                          for seg, span in zip(decoded, spans)])
                return Segments.of(windows, starts, duration)
        # No usable duration in the header (streams, truncated or VBR files): decode it all and measure.
        (whole,) = audio_io.decode(path, None, _MAX_FULL_DECODE_S)
    return split_samples(audio_io.to_float(whole))
