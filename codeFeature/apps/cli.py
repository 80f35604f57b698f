"""Command line: classify audio files (or every audio file in folders).

    python -m codeFeature.predict song.mp3 more/ [--json] [--engine ENGINE] [--model-dir DIR]

The engine defaults to the one the training command measured best (class_xls/engines.json).
Human-readable by default; with --json, one JSON object per input on stdout, in input order:
{"file", "genre", "probabilities", "segments": [{"start", "end", "silent", "probabilities"}], "duration_s",
"elapsed_s", "engine", "tags", "confident", "doubt"} ("tags": the top MSD tags, empty for the cnn engine;
"confident": whether the engine is sure; "doubt": why not, in one line, or null) or {"file", "error"}.
Exit status: 0 if every input was classified, 1 if any failed, 2 if the model could not be loaded, 130 if stopped by
Ctrl-C or SIGTERM (the results printed so far stand; one line on stderr says how many).
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path

from codeFeature import (
    AUDIO_EXTENSIONS,
    Failure,
    GenreClassifier,
    GenreClassifierError,
    Prediction,
)
from codeFeature.config import MODEL_DIR
from codeFeature.engine.engines import ENGINES, help_text
from codeFeature.signals import stop_on_signals


def expand(inputs: Iterable[str]) -> list[Path]:
    """Files as given, folders replaced by the audio files inside them (recursively, sorted)."""
    paths: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            paths += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
        else:
            paths.append(path)
    return paths


def describe(result: Prediction | Failure) -> str:
    """Human-readable lines (one for a Failure) for a Prediction or Failure."""
    if isinstance(result, Failure):
        return f"{result.file}: error: {result.error}"
    ranked = result.ranked()
    runners_up = ", ".join(f"{genre} {p:.0%}" for genre, p in ranked[1:3])
    timeline = " ".join(segment.genre if not segment.silent else "-" for segment in result.segments)
    lines = [f"{result.file}: {ranked[0][0]} {ranked[0][1]:.0%} ({runners_up}); {result.duration_s:.1f} s of audio, "
             f"classified by {result.engine} in {result.elapsed_s:.2f} s", f"  segments: {timeline}"]
    if result.tags:
        lines.append("  sounds like: " + " · ".join(tag for tag, _ in result.tags[:3]))
    if result.doubt:
        lines.append(f"  {result.doubt}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The command's options (its --help; docs/ lists the same, checked by tests/test_docs.py)."""
    parser = argparse.ArgumentParser(prog="python -m codeFeature.predict", description="Classify the genre of songs.")
    parser.add_argument("inputs", nargs="+", metavar="FILE_OR_DIR")
    parser.add_argument("--json", action="store_true", help="one JSON object per input")
    parser.add_argument("--engine", choices=ENGINES,
                        help=f"{help_text()}. Default: the best measured (class_xls/engines.json)")
    parser.add_argument("--model-dir", type=Path, default=MODEL_DIR, help="folder with the model files")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    paths = expand(args.inputs)
    if not paths:
        print("error: no audio files found in the given folders", file=sys.stderr)
        return 1
    stop_on_signals()
    done, failed = 0, False
    try:
        classifier = GenreClassifier(args.model_dir, args.engine)
        for result in classifier.classify_many(paths):
            failed |= isinstance(result, Failure)
            done += 1
            print(json.dumps(result.to_dict()) if args.json else describe(result), flush=True)
    except GenreClassifierError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted: {done} of {len(paths)} files done (their results are above); the rest were not "
              f"classified", file=sys.stderr)
        return 130
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
