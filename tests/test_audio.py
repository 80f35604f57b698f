"""audio/audio_io.py: every format and odd PCM layout decodes to mono float at 22050 Hz; bad input gives
AudioDecodeError."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from conftest import synth_song, write_audio, write_playlists, write_ts

from codeFeature.audio import audio_io
from codeFeature.config import SAMPLE_RATE
from codeFeature.errors import AudioDecodeError

FORMATS = {  # suffix -> extra ffmpeg output arguments
    ".wav": (), ".mp3": (), ".ogg": ("-c:a", "libvorbis"), ".opus": (), ".flac": (), ".m4a": (),
    ".aac": (), ".aiff": (), ".au": (), ".wma": (), ".webm": (),
}


@pytest.mark.parametrize("suffix", sorted(FORMATS))
def test_every_format_decodes_to_mono_22050(tmp_path: Path, suffix: str) -> None:
    song = synth_song(4.0, rate=44100)
    path = write_audio(tmp_path / f"clip{suffix}", song, rate=44100, channels=2, codec_args=FORMATS[suffix])
    y = audio_io.load(path)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) / SAMPLE_RATE - 4.0) < 0.1  # m4a once decoded to 0 s when piped: length is the check
    assert 0.3 < np.max(np.abs(y)) <= 1.0


def test_video_file_with_audio_track(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    wav = write_audio(tmp_path / "a.wav", synth_song(4.0))
    import subprocess
    subprocess.run([audio_io.ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "color=c=black:s=64x64:d=4",
                    "-i", str(wav), "-shortest", "-c:v", "mpeg4", "-c:a", "aac", str(path)], check=True)
    assert abs(len(audio_io.load(path)) / SAMPLE_RATE - 4.0) < 0.1


@pytest.mark.parametrize("rate", [8000, 16000, 44100, 48000, 96000])
def test_any_sample_rate_is_resampled(tmp_path: Path, rate: int) -> None:
    t = np.arange(3 * rate) / rate
    path = write_audio(tmp_path / "tone.wav", (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate=rate)
    y = audio_io.load(path)
    assert abs(len(y) - 3 * SAMPLE_RATE) <= 2
    spectrum = np.abs(np.fft.rfft(y))
    assert abs(np.argmax(spectrum) * SAMPLE_RATE / len(y) - 440) < 2  # pitch survives resampling


@pytest.mark.parametrize("codec", ["pcm_u8", "pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_f32le", "pcm_f64le"])
def test_wav_sample_formats_are_normalised(tmp_path: Path, codec: str) -> None:
    song = synth_song(3.5)
    y = audio_io.load(write_audio(tmp_path / "x.wav", song, codec_args=("-c:a", codec)))
    assert np.max(np.abs(y)) == pytest.approx(np.max(np.abs(song)), abs=0.03)


def test_six_channels_are_mixed_down(tmp_path: Path) -> None:
    y = audio_io.load(write_audio(tmp_path / "surround.flac", synth_song(3.5), channels=6))
    assert y.ndim == 1 and abs(len(y) / SAMPLE_RATE - 3.5) < 0.05 and np.max(np.abs(y)) > 0.1


def test_bytes_and_file_objects_leave_no_temp_files(song_wav: Path, private_tmp: Path) -> None:
    data = song_wav.read_bytes()
    assert len(audio_io.load(data, suffix=".wav")) == len(audio_io.load(io.BytesIO(data), suffix=".wav"))
    assert list(private_tmp.iterdir()) == []


def test_probe_reads_duration_without_ffprobe(song_mp3: Path, tmp_path: Path) -> None:
    assert audio_io.probe(song_mp3) == pytest.approx(30.0, abs=0.1)  # libsndfile reads the header
    m4a = write_audio(tmp_path / "clip.m4a", synth_song(4.0))
    assert audio_io.probe(m4a) == pytest.approx(4.0, abs=0.1)  # ffmpeg's header dump


def test_decode_spans_seek(tmp_path: Path) -> None:
    rate = SAMPLE_RATE
    ramp = np.repeat(np.arange(20, dtype=np.float32) / 40, rate)  # level k/40 during second k
    path = write_audio(tmp_path / "ramp.wav", ramp)
    first, second = audio_io.decode(path, [(2.0, 1.0), (15.0, 2.0)])
    assert len(first) == 1000 and len(second) == 2000  # pydub lengths are in ms
    assert np.median(audio_io.to_float(first)) == pytest.approx(2 / 40, abs=0.002)
    assert np.median(audio_io.to_float(second)[:rate]) == pytest.approx(15 / 40, abs=0.002)


BAD_INPUTS = {
    "empty.mp3": b"",
    "random.wav": np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes(),
    "text.mp3": b"this is not a song, just some text that someone renamed\n" * 20,
    "header_only.mp3": b"ID3\x04\x00\x00\x00\x00\x00\x00",
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_raises_one_clear_error(tmp_path: Path, private_tmp: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(BAD_INPUTS[name])
    with pytest.raises(AudioDecodeError) as info:
        audio_io.load(path)
    assert "\n" not in str(info.value) and len(str(info.value)) < 200
    with pytest.raises(AudioDecodeError):
        audio_io.load(BAD_INPUTS[name], suffix=Path(name).suffix)
    assert list(private_tmp.iterdir()) == []


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AudioDecodeError, match="No such file"):
        audio_io.load(tmp_path / "nope.mp3")


def test_file_without_audio_track(tmp_path: Path) -> None:
    path = tmp_path / "silent_film.mp4"
    import subprocess
    subprocess.run([audio_io.ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "color=c=black:s=64x64:d=2",
                    "-c:v", "mpeg4", str(path)], check=True)
    with pytest.raises(AudioDecodeError, match="no audio track"):
        audio_io.load(path)


def test_playlists_and_scripts_cannot_make_ffmpeg_read_other_files(tmp_path: Path) -> None:
    # Unhardened, ffmpeg 9 decodes the .m3u8 playlists (absolute path) and the ffconcat scripts (relative path).
    neighbour = write_ts(tmp_path / "neighbour.ts", synth_song(10.0))
    for path in write_playlists(tmp_path, [str(neighbour), neighbour.name, f"file:{neighbour}"]):
        with pytest.raises(AudioDecodeError, match="not an audio file"):
            audio_io.load(path)
        with pytest.raises(AudioDecodeError, match="not an audio file"):
            audio_io.load(path.read_bytes(), suffix=path.suffix)


def test_a_file_name_is_never_a_protocol(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_audio(tmp_path / "a.wav", synth_song(4.0))
    tricky = tmp_path / "concat:a.wav|a.wav"
    tricky.write_bytes(b"not audio at all" * 100)
    with pytest.raises(AudioDecodeError, match="not an audio file"):
        audio_io.load(tricky.name)
