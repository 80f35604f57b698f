"""Which musicnn output should the genre head read? Logistic-regression probes, judged by track.

    python -m codeFeature.probe --data ../shared/gtzan

For each musicnn output (see musicnn.OUTPUTS), a standardised, class-balanced logistic regression is trained on the
same runs as the training command (5-fold CV over tracks, and the artist-filtered split) from the cached
embeddings, two ways: per segment (a song = the mean of its segments' probabilities, as the app does) and per song
(one prediction from the mean and max of its segments' embeddings). Prints a Markdown table of held-out track
accuracy / macro recall on the original audio. Needs the feature cache (built by the training command if absent).
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from . import dataset, metrics, musicnn
from .config import PROJECT_DIR
from .train import TrainSettings, evaluation_jobs
from .train_head import examples


def _classifier(c: float):
    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000, class_weight="balanced"))


def _song_vector(segments: np.ndarray) -> np.ndarray:
    return np.concatenate([segments.mean(axis=0), segments.max(axis=0)])


def probe(embeddings: list[dataset.TrackFeatures], labels: np.ndarray, train_idx: np.ndarray,
          test_idx: np.ndarray, per_song: bool, c: float = 0.1) -> list[np.ndarray]:
    """Held-out (segments or 1, genres) probabilities of tracks `test_idx` (original audio) from one probe."""
    if per_song:  # one example per track and variant
        x = [_song_vector(variant.astype(np.float32)) for i in train_idx for variant in embeddings[i].eval]
        y = [labels[i] for i in train_idx for _ in embeddings[i].eval]
        model = _classifier(c).fit(np.array(x), np.array(y))
        return [model.predict_proba(_song_vector(embeddings[i].eval[0].astype(np.float32))[None]) for i in test_idx]
    x, y, _ = examples(embeddings, labels, train_idx)  # the genre head's examples; the classes balance themselves
    model = _classifier(c).fit(x, y)
    return [model.predict_proba(embeddings[i].eval[0].astype(np.float32)) for i in test_idx]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m codeFeature.probe", description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--cache", type=Path, default=PROJECT_DIR / ".cache" / "features")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning)
    tracks = dataset.discover(args.data)
    print("| musicnn output | CV, per segment | CV, per song (mean+max) | artist split, per segment |")
    print("|---|---|---|---|")
    for output in musicnn.OUTPUTS:
        kept, embeddings = dataset.load_features(tracks, args.cache, kind="musicnn", output=output,
                                                 log=lambda _: None)
        data = SimpleNamespace(tracks=kept, labels=np.array([track.label for track in kept]))
        jobs = evaluation_jobs(data, folds=5, use_split=True, settings=TrainSettings())
        cells = []
        for kind, per_song in (("cv", False), ("cv", True), ("split", False)):
            runs = [job for job in jobs if (job[0] == "split") == (kind == "split")]
            idx = np.concatenate([test for _, _, test, _ in runs])
            probs = [p for _, train, test, _ in runs for p in probe(embeddings, data.labels, train, test, per_song)]
            track = metrics.evaluate_tracks(data.labels[idx], probs)["track"]
            cells.append(f"{track['accuracy']:.3f} / {track['macro_recall']:.3f}")
        print(f"| {output} ({embeddings[0].eval.shape[-1]}) | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
