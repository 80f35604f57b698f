"""Audio I/O: find the bundled ffmpeg, probe a file, decode spans of it to mono PCM at SAMPLE_RATE.

This is the single decode -> resample route of the project: training and serving both call `decode`.
ffmpeg (from the `imageio-ffmpeg` wheel, no system install) decodes, downmixes to mono and resamples with its
default resampler; the PCM comes back as a pydub `AudioSegment`. ffmpeg is called directly rather than through
`AudioSegment.from_file`, which needs `ffprobe` (not in the wheel) and decodes a whole file before it can cut,
whereas an input seek here makes a window of a 10-minute song cost what a window of a 30-s clip costs.
"""
from __future__ import annotations

import io
import os
import re
import subprocess
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO, Union

import imageio_ffmpeg
import numpy as np
import soundfile

with warnings.catch_warnings():  # pydub warns at import when no ffmpeg is on PATH; we point it at ours below.
    warnings.simplefilter("ignore", RuntimeWarning)
    from pydub import AudioSegment

from codeFeature.config import SAMPLE_RATE
from codeFeature.errors import AudioDecodeError

AudioSource = Union[str, os.PathLike, bytes, BinaryIO]

_SAMPLE_WIDTH = 2  # ffmpeg writes signed 16-bit PCM
_DURATION_RE = re.compile(r"Duration:\s*(\d+):(\d+):(\d+(?:\.\d+)?)")
_AUDIO_STREAM_RE = re.compile(r"Stream #\S+.*?: Audio: ([^,\s]+)")
_FFMPEG_TIMEOUT_S = 120

# Untrusted files: ffmpeg may open only the local file it is given (no network, no `concat:`/`subfile:` tricks)
# and only through a demuxer of audio or audio/video files, never a playlist or script that names other files
# (HLS `#EXTM3U`, `ffconcat`, image sequences), whatever the file is called. These go before every `-i`.
_SAFE_PROTOCOLS = "file"
_SAFE_DEMUXERS = ("aac", "ac3", "aiff", "amr", "ape", "asf", "au", "avi", "caf", "dsf", "dts", "eac3", "flac",
                  "flv", "matroska", "mov", "mp3", "mpc", "mpc8", "mpeg", "mpegts", "ogg", "rm", "tta", "w64",
                  "wav", "wv", "xwma")
_SAFE_INPUT = ["-protocol_whitelist", _SAFE_PROTOCOLS, "-format_whitelist", ",".join(_SAFE_DEMUXERS)]


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary shipped by imageio-ffmpeg; also made pydub's converter."""
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    AudioSegment.converter = exe
    return exe


def wav_bytes(samples: np.ndarray, rate: int) -> bytes:
    """Audio already in memory as a float32 WAV file, so it takes the one decode -> resample route of files (ffmpeg
    mixes it to mono and resamples it). `samples`: (n,) or (n, channels) or (channels, n), float in [-1, 1] or
    integer PCM; `rate` in Hz. Raises AudioDecodeError for anything that is not such audio."""
    array = np.asarray(samples)
    if array.ndim == 2 and array.shape[0] < array.shape[1]:  # (channels, n), as librosa returns multichannel audio
        array = array.T
    if array.ndim not in (1, 2) or array.size == 0 or not np.issubdtype(array.dtype, np.number):
        raise AudioDecodeError("The audio array must hold samples as numbers: shape (samples,) or (samples, "
                               "channels).")
    if not isinstance(rate, (int, np.integer)) or not 1_000 <= rate <= 768_000:
        raise AudioDecodeError(f"The sample rate must be a whole number of Hz between 1000 and 768000, not {rate!r}.")
    if np.issubdtype(array.dtype, np.integer):
        array = array / float(np.iinfo(array.dtype).max + 1)
    if not np.all(np.isfinite(array)):
        raise AudioDecodeError("The audio array holds NaN or infinite samples.")
    out = io.BytesIO()
    soundfile.write(out, np.asarray(array, np.float32), int(rate), format="WAV", subtype="FLOAT")
    return out.getvalue()


@contextmanager
def as_path(source: AudioSource, suffix: str = "") -> Iterator[Path]:
    """Yield a filesystem path for `source`: the path itself, or a temporary copy of bytes / a file object.

    The temporary copy is deleted when the block ends, whatever happens inside it. ffmpeg needs a real file:
    piped m4a/mp4 (index at the end) decodes to nothing, and seeking needs random access.
    """
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise AudioDecodeError(f"No such file: {path}")
        yield path
        return
    data = source if isinstance(source, bytes) else _read_all(source)
    with temporary_path(suffix) as path:
        path.write_bytes(data)
        yield path


@contextmanager
def temporary_path(suffix: str = "") -> Iterator[Path]:
    """Yield the (not yet existing) path `upload<suffix>` in a new private temporary folder; the folder and all in
    it are deleted when the block ends, whatever happens inside it."""
    with tempfile.TemporaryDirectory(prefix="genre-upload-") as tmp:
        yield Path(tmp) / f"upload{suffix}"


def _read_all(fileobj: BinaryIO) -> bytes:
    if hasattr(fileobj, "getvalue"):
        return fileobj.getvalue()
    if hasattr(fileobj, "seek"):
        fileobj.seek(0)
    return fileobj.read()


def probe(path: Path) -> float | None:
    """Duration in seconds of the audio in `path` (None if the header does not say), from the header only.

    libsndfile reads it in-process where it knows the format (wav, flac, ogg, opus, mp3, aiff, au: 0.2 ms);
    otherwise ffmpeg's header dump says it (there is no ffprobe). This only picks the windows to decode: decoding
    is always ffmpeg's. Raises AudioDecodeError for an empty file, a file ffmpeg cannot open, or one without audio.
    """
    if path.stat().st_size == 0:
        raise AudioDecodeError("The file is empty.")
    try:
        return float(soundfile.info(str(path)).duration)
    except (soundfile.LibsndfileError, RuntimeError, TypeError):
        pass
    result = _run([ffmpeg_exe(), "-hide_banner", "-nostdin", *_SAFE_INPUT, "-i", _url(path)], check=False)
    dump = result.stderr.decode("utf-8", errors="replace")
    if _AUDIO_STREAM_RE.search(dump) is None:
        if "Input #0" in dump:
            raise AudioDecodeError("The file has no audio track.")
        raise AudioDecodeError("This is not an audio file ffmpeg can read (corrupt, or an unknown format).")
    duration = _DURATION_RE.search(dump)
    if duration is None:
        return None
    hours, minutes, secs = duration.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(secs)


def decode(path: Path, spans: Sequence[tuple[float, float]] | None = None,
           max_seconds: float | None = None) -> list[AudioSegment]:
    """Decode `spans` ((start_s, length_s) pairs) of `path` to mono 16-bit AudioSegments at SAMPLE_RATE.

    One ffmpeg process serves all spans (one seeking input each). `spans=None` decodes the whole file, at most
    `max_seconds` of it. A span past the end of the audio comes back shorter or empty: callers check lengths.
    Raises AudioDecodeError if ffmpeg fails.
    """
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-y"]
    wanted = list(spans) if spans is not None else [(0.0, max_seconds)]
    for start, length in wanted:
        if start > 0:
            cmd += ["-fflags", "+fastseek", "-ss", f"{start:.3f}"]
        if length is not None:
            cmd += ["-t", f"{length:.3f}"]
        cmd += [*_SAFE_INPUT, "-i", _url(path)]
    with tempfile.TemporaryDirectory(prefix="genre-decode-") as tmp:
        outputs = [Path(tmp) / f"span{i}.raw" for i in range(len(wanted))]
        for i, out in enumerate(outputs):
            cmd += ["-map", f"{i}:a:0", "-vn", "-ac", "1", "-ar", str(SAMPLE_RATE),
                    "-f", "s16le", "-acodec", "pcm_s16le", str(out)]
        result = _run(cmd, check=False)
        if result.returncode != 0:
            message = result.stderr.decode("utf-8", errors="replace").replace(_url(path), path.name)
            lines = message.strip().splitlines()
            detail = lines[-1] if lines else f"exit status {result.returncode}"
            raise AudioDecodeError(f"The audio could not be decoded; the file may be damaged ({detail}).")
        return [AudioSegment(data=out.read_bytes(), sample_width=_SAMPLE_WIDTH, frame_rate=SAMPLE_RATE, channels=1)
                for out in outputs]


def to_float(segment: AudioSegment) -> np.ndarray:
    """Samples of a pydub AudioSegment as float32 in [-1, 1] (normalised by the segment's own sample width)."""
    samples = np.asarray(segment.get_array_of_samples(), dtype=np.float32)
    return samples / float(2 ** (8 * segment.sample_width - 1))


def load(source: AudioSource, max_seconds: float | None = None, suffix: str = "") -> np.ndarray:
    """Decode a whole file (path, bytes or file object) to float32 mono at SAMPLE_RATE."""
    with as_path(source, suffix) as path:
        probe(path)
        (segment,) = decode(path, None, max_seconds)
    return to_float(segment)


def _url(path: Path) -> str:
    """`path` as an explicit local-file URL, so that a name like `concat:a|b` or `http:x` is never a protocol."""
    return "file:" + str(Path(path).resolve())


def _run(cmd: list[str], check: bool) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, capture_output=True, check=check, timeout=_FFMPEG_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise AudioDecodeError("Decoding took too long; the file may be damaged.") from exc
