"""Constants shared by training and serving: audio format, segmenting, MFCC settings, genres, file locations.

Every number that shapes the features is defined here once; changing one means retraining the model.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

GENRES: tuple[str, ...] = (
    "blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock",
)

# Audio: everything is decoded by ffmpeg to mono 16-bit PCM at this rate before features are computed.
SAMPLE_RATE = 22050

# Segmenting: a song is judged on ten 3-second segments.
SEGMENT_SECONDS = 3.0
SEGMENT_SAMPLES = int(SEGMENT_SECONDS * SAMPLE_RATE)  # 66150
N_SEGMENTS = 10
MIN_DURATION_S = SEGMENT_SECONDS
# Songs longer than this lose a margin at both ends (intro silence, applause): LONG_SONG_MARGIN of the duration,
# at most MAX_MARGIN_S seconds each side.
LONG_SONG_S = 45.0
LONG_SONG_MARGIN = 0.05
MAX_MARGIN_S = 10.0

# MFCC (librosa): 13 coefficients, n_fft 2048, hop 512 -> (130 frames, 13) per 3-s segment.
N_MFCC = 13
N_MELS = 128  # librosa's default, named because a gain of g dB shifts c0 by exactly g * sqrt(N_MELS)
N_FFT = 2048
HOP_LENGTH = 512
N_FRAMES = 1 + SEGMENT_SAMPLES // HOP_LENGTH  # 130
INPUT_SHAPE = (N_FRAMES, N_MFCC, 1)

# musicnn (Pons & Serra 2019, the MSD-trained model, ported to Keras by
# `python -m codeFeature.training.musicnn_convert`):
# each 3-s segment is resampled to 16 kHz and becomes one log-mel patch of 187 frames x 96 bands.
MUSICNN_SAMPLE_RATE = 16000
MUSICNN_N_FFT = 512
MUSICNN_HOP_LENGTH = 256
MUSICNN_N_MELS = 96
MUSICNN_FRAMES = 187
MUSICNN_INPUT_SHAPE = (MUSICNN_FRAMES, MUSICNN_N_MELS)
MSD_TAGS: tuple[str, ...] = (
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s", "alternative rock",
    "jazz", "beautiful", "metal", "chillout", "male vocalists", "classic rock", "soul", "indie rock", "Mellow",
    "electronica", "80s", "folk", "90s", "chill", "instrumental", "punk", "oldies", "blues", "hard rock", "ambient",
    "acoustic", "experimental", "female vocalist", "guitar", "Hip-Hop", "70s", "party", "country", "easy listening",
    "sexy", "catchy", "funk", "electro", "heavy metal", "Progressive rock", "60s", "rnb", "indie pop", "sad",
    "House", "happy",
)

# MagnaTagATune's 50 tags, as the MTT-trained networks of the musicnn wheel output them.
MTT_TAGS: tuple[str, ...] = (
    "guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock", "fast", "piano", "ambient",
    "beat", "violin", "vocal", "synth", "female", "indian", "opera", "male", "singing", "vocals", "no vocals",
    "harpsichord", "loud", "quiet", "flute", "woman", "male vocal", "no vocal", "pop", "soft", "sitar", "solo", "man",
    "classic", "choir", "voice", "new age", "dance", "male voice", "female vocal", "beats", "harp", "cello",
    "no voice", "weird", "country", "metal", "female voice", "choral",
)

# The pretrained networks ("ears") the genre head may read, all from the musicnn wheel (Pons & Serra 2019), ported
# by `python -m codeFeature.training.musicnn_convert` (models/ears.py says what each is). "musicnn" is the
# MSD-trained musicnn, the first the project used; which of them the shipped head reads is chosen by training and
# written to engines.json.
EARS: tuple[str, ...] = ("musicnn", "mtt_musicnn", "msd_vgg")
EAR_OUTPUTS: tuple[str, ...] = ("tags", "penultimate")  # what the head may read of an ear: tag likelihoods, embedding

# What the tags mean in our genres (a listener's reading of the tag names, not fitted): the head's prior, per tag
# vocabulary. Reggae has no tag in either; MTT has none for blues, hip-hop or jazz.
GENRE_TAG_MAP: dict[str, tuple[str, ...]] = {
    "blues": ("blues",), "classical": ("instrumental",), "country": ("country",), "disco": ("dance", "funk"),
    "hiphop": ("Hip-Hop",), "jazz": ("jazz",), "metal": ("metal", "heavy metal"), "pop": ("pop", "indie pop"),
    "reggae": (),
    "rock": ("rock", "classic rock", "hard rock", "alternative rock", "indie rock", "punk", "Progressive rock"),
}
MTT_GENRE_TAG_MAP: dict[str, tuple[str, ...]] = {
    "blues": (), "classical": ("classical", "choral", "opera"), "country": ("country",), "disco": ("dance",),
    "hiphop": (), "jazz": (), "metal": ("metal",), "pop": ("pop",), "reggae": (), "rock": ("rock",),
}
# A source of real songs (a repository; GTZAN is one) with fewer labelled songs than this is too small to be judged
# on its own: training holds such sources out together, and the "not sure" rule is not held to its coverage there.
MIN_SOURCE_SONGS = 30

# The head's classes: the ten genres, then "none of them" (learned from real songs of other genres).
OUTSIDE = "outside"
HEAD_CLASSES: tuple[str, ...] = (*GENRES, OUTSIDE)
# MSD tags that name styles outside the ten: a "not sure" message names the song's strongest ones.
SOUNDS_LIKE_TAGS: tuple[str, ...] = ("soul", "rnb", "funk", "folk", "electronic", "electronica", "electro", "House",
                                     "ambient", "chillout", "experimental", "easy listening", "acoustic")
SOUNDS_LIKE_MIN = 0.15  # a tag at least this likely is named

# Every model runs on OpenVINO (models.runtime); a process that has not imported Keras yet gets it with this backend,
# so classifying never loads TensorFlow (used for training). OpenVINO's outputs are within SERVING_TOLERANCE of
# TensorFlow's, ~2x faster, in less than half the memory.
SERVING_BACKEND = "openvino"
INFERENCE_BATCH = N_SEGMENTS  # rows per OpenVINO call: a song's ten segments at once (models/runtime.py)
SERVING_TOLERANCE = 1e-4  # largest difference allowed between the two backends' probabilities and tag likelihoods

# A segment quieter than this (RMS, dB relative to full scale) counts as silence.
SILENCE_DBFS = -60.0

# Shipped model files: class_xls/ at the top of the repository, installed as package data inside codeFeature (see
# pyproject.toml), where importlib.resources finds it.
PROJECT_DIR = Path(__file__).resolve().parent.parent
_INSTALLED_MODELS = Path(str(resources.files("codeFeature") / "class_xls"))
MODEL_DIR = _INSTALLED_MODELS if _INSTALLED_MODELS.is_dir() else PROJECT_DIR / "class_xls"
MODEL_JSON = "model_cnn.json"
MODEL_WEIGHTS = "model_cnn.weights.h5"
MUSICNN_JSON = "musicnn_msd.json"
MUSICNN_WEIGHTS = "musicnn_msd.weights.h5"
MUSICNN_LICENSE = "musicnn.LICENSE.md"  # the licence of every network ported from the musicnn wheel
HEAD_JSON = "genre_head.json"
HEAD_WEIGHTS = "genre_head.weights.h5"
ENGINES_JSON = "engines.json"  # what the models expect and how they are combined (written by training)
METRICS_JSON = "metrics.json"
CONFUSION_PNG = "confusion.png"

# Audio file endings the dataset reader and the CLI's folder walk pick up.
AUDIO_EXTENSIONS: tuple[str, ...] = (
    ".wav", ".au", ".aif", ".aiff", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".mp4", ".wma",
    ".webm", ".mkv", ".mov",
)
