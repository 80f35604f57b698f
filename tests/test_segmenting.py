"""audio/segmenting.py: the segmenting rules for short, exact-30-s and long songs; silence; truncated files."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import synth_song, write_audio

from codeFeature.audio import segmenting
from codeFeature.config import N_SEGMENTS, SAMPLE_RATE, SEGMENT_SAMPLES
from codeFeature.errors import AudioTooShortError


def test_thirty_seconds_gives_ten_consecutive_segments() -> None:
    assert segmenting.segment_starts(30.0) == [float(3 * i) for i in range(10)]
    spans = segmenting.merge_spans(segmenting.segment_starts(30.0))
    assert [(span.start, span.length) for span in spans] == [(0.0, 30.0)]


def test_every_window_is_in_exactly_one_span() -> None:
    for duration in (3.0, 7.5, 12.0, 30.0, 44.0, 600.0):
        starts = segmenting.segment_starts(duration)
        spans = segmenting.merge_spans(starts)
        assert [w for span in spans for w in span.windows] == starts
        for span in spans:
            assert span.start == span.windows[0] and span.start + span.length >= span.windows[-1] + 3.0


def test_short_clip_overlaps_and_covers_it() -> None:
    starts = segmenting.segment_starts(12.0)
    assert len(starts) == N_SEGMENTS and starts[0] == 0.0 and starts[-1] == pytest.approx(9.0)
    assert segmenting.segment_starts(3.0) == [0.0] * N_SEGMENTS


def test_long_song_is_spread_and_skips_the_ends() -> None:
    starts = segmenting.segment_starts(600.0)
    assert starts[0] == 10.0 and starts[-1] == pytest.approx(587.0)  # 10 s margin each end
    gaps = np.diff(starts)
    assert np.allclose(gaps, gaps[0], atol=0.01)
    assert len(segmenting.merge_spans(starts)) == N_SEGMENTS  # ten seeks, not one long decode
    assert segmenting.segment_starts(60.0)[0] == pytest.approx(3.0)  # 5 % margin below the cap


@pytest.mark.parametrize("seconds", [0.0, 1.0, 2.99])
def test_under_three_seconds_is_refused(seconds: float) -> None:
    with pytest.raises(AudioTooShortError, match="at least 3 s"):
        segmenting.segment_starts(seconds)


def test_load_segments_of_a_file(tmp_path: Path) -> None:
    path = write_audio(tmp_path / "song.mp3", synth_song(30.0))
    segments = segmenting.load_segments(path)
    assert segments.audio.shape == (N_SEGMENTS, SEGMENT_SAMPLES) and segments.audio.dtype == np.float32
    assert segments.starts[1] == pytest.approx(3.0, abs=0.01) and segments.ends[-1] == pytest.approx(30.0, abs=0.05)
    assert not any(segments.silent)
    # The same bytes uploaded (page, API) give exactly the samples the file gives (CLI, training).
    uploaded = segmenting.load_segments(path.read_bytes(), ".mp3")
    assert uploaded.starts == segments.starts and np.array_equal(uploaded.audio, segments.audio)


def test_windows_of_a_long_file_hold_the_audio_at_their_times(tmp_path: Path) -> None:
    # 120 s: second k has the level (k % 60) / 80, so each window's level says where it was cut.
    levels = np.repeat((np.arange(120) % 60) / 80, SAMPLE_RATE).astype(np.float32)
    carrier = np.sin(2 * np.pi * 100 * np.arange(len(levels)) / SAMPLE_RATE).astype(np.float32)
    segments = segmenting.load_segments(write_audio(tmp_path / "long.flac", levels * carrier))
    for start, window in zip(segments.starts, segments.audio):
        second = int(np.ceil(start))  # first whole second inside the window
        offset = int((second - start) * SAMPLE_RATE)
        peak = np.max(np.abs(window[offset + 100:offset + SAMPLE_RATE - 100]))
        assert peak == pytest.approx((second % 60) / 80, abs=0.01)


def test_too_short_file(tmp_path: Path) -> None:
    with pytest.raises(AudioTooShortError, match="2.0 s long"):
        segmenting.load_segments(write_audio(tmp_path / "short.wav", synth_song(2.0)))


def test_silence_is_marked(tmp_path: Path) -> None:
    song = synth_song(30.0)
    song[:15 * SAMPLE_RATE] = 0.0
    segments = segmenting.load_segments(write_audio(tmp_path / "half.wav", song))
    assert segments.silent == (True,) * 5 + (False,) * 5


def test_truncated_file_still_gives_ten_segments(tmp_path: Path) -> None:
    path = write_audio(tmp_path / "song.mp3", synth_song(30.0), codec_args=("-b:a", "128k"))
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 3])
    segments = segmenting.load_segments(path)
    assert segments.audio.shape == (N_SEGMENTS, SEGMENT_SAMPLES)
    assert 8.0 < segments.duration_s < 12.0
    assert not any(segments.silent)


def test_vbr_header_that_overstates_the_length(tmp_path: Path) -> None:
    # A VBR mp3 keeps its Xing frame count when cut: the header claims 30 s, the audio is ~10 s.
    path = write_audio(tmp_path / "vbr.mp3", synth_song(30.0), codec_args=("-q:a", "4"))
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 3])
    segments = segmenting.load_segments(path)
    assert segments.duration_s < 12.0 and not any(segments.silent)
