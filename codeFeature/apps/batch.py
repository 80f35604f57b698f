"""Tag a whole music library: classify every audio file under some folders on Ray Data, one Parquet row per file.

    python -m codeFeature.batch MUSIC_DIR... --out results.parquet [--engine E] [--workers N] [--address ADDR]
                                [--model-dir DIR] [--write-tags [--overwrite | --overwrite-any] [--include-unsure]
                                [--min-probability P] [--genres N] [--separator S]]
    python -m codeFeature.batch --undo --out results.parquet

Without --address, Ray starts on this machine for the job and stops after it (nothing to set up). With --address
(`auto`, `HOST:6379` or `ray://HOST:10001`) the job runs on that Ray cluster; from a checkout, the project is shipped
to its workers with Ray's runtime environment (an installed package must be installed on the workers too).

The job (tagging/job.py): the files are hashed and featurised in parallel tasks and judged by a pool of actors that each
load the models once; rows are written to --out in parts as they arrive (tagging/results.py). A file that cannot be
classified is a row with the CLI's one-line message in `error`. A rerun with the same --out skips files whose content
hash is already there. Ctrl-C or SIGTERM stops the job; rows already received are written, the songs in flight are
lost.

Tags (library_tags): without --write-tags the job prints what tagging would do (a dry run), grouped: would fill,
would replace, kept (has a genre), skipped (not sure), failed. --write-tags then does it, safely by default:
- only files with no genre tag are filled; --overwrite replaces genres that are among the ten, --overwrite-any any;
- only answers the engine is sure of (--include-unsure for all), at least --min-probability;
- --genres N writes the top N genres (at least --min-probability each), as several values where the format has them,
  else joined with --separator.
Every change is recorded in --out (previous and new genre, content hashes, time), and

    python -m codeFeature.batch --undo --out results.parquet

puts back the genre of every changed file that still has the genre written (a file retagged since is left alone).
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

from codeFeature.apps.cli import expand
from codeFeature.config import PROJECT_DIR
from codeFeature.engine.engines import ENGINES, help_text
from codeFeature.engine.model_folder import ModelFolder
from codeFeature.errors import GenreClassifierError
from codeFeature.signals import stop_on_signals
from codeFeature.tagging.file_tags import DEFAULT_SEPARATOR
from codeFeature.tagging.job import JobSettings, Summary, run
from codeFeature.tagging.library_tags import (
    FAILED,
    RESTORED,
    RETAGGED,
    TagOptions,
    TagReport,
    tag_library,
    undo,
)

_MAX_TEMP_ROOT = 24  # Ray adds ~82 bytes of folder, session and socket names below the temporary folder
_RUNTIME_EXCLUDES = [".git", ".cache", "genres_original", "tests", "benchmarks", "*.parquet", "__pycache__"]


def _short_temp_root() -> str:
    """The temporary folder, or /tmp if its path is too long for the Unix sockets Ray makes inside it (107 bytes)."""
    root = tempfile.gettempdir()
    return root if len(root) <= _MAX_TEMP_ROOT else "/tmp"


def _runtime_env(worker_temp: str | None = None) -> dict:
    """Ray's runtime environment for the workers: from a checkout, the project itself (code and class_xls); with
    `worker_temp`, their TMPDIR (a folder of the job's own that the driver removes after it, so a worker stopped in
    the middle of a decode leaves nothing behind)."""
    env = {"env_vars": {"TF_CPP_MIN_LOG_LEVEL": "3", **({"TMPDIR": worker_temp} if worker_temp else {})}}
    if (PROJECT_DIR / "pyproject.toml").is_file() and (PROJECT_DIR / "class_xls").is_dir():
        env.update(working_dir=str(PROJECT_DIR), excludes=_RUNTIME_EXCLUDES)
    return env


def build_parser() -> argparse.ArgumentParser:
    """The command's options (its --help; docs/ lists the same, checked by tests/test_docs.py)."""
    parser = argparse.ArgumentParser(prog="python -m codeFeature.batch",
                                     description="Classify every audio file under some folders into a Parquet table.")
    parser.add_argument("inputs", nargs="*", metavar="MUSIC_DIR", help="folders (or files) to classify")
    parser.add_argument("--out", type=Path, required=True, help="results folder of Parquet parts (e.g. tags.parquet)")
    parser.add_argument("--engine", choices=ENGINES,
                        help=f"{help_text()}. Default: the best measured (class_xls/engines.json)")
    parser.add_argument("--workers", type=int, help="judges (model actors); default: one per CPU of the cluster")
    parser.add_argument("--address", help="an existing Ray cluster (auto, HOST:6379, ray://HOST:10001); "
                                          "default: start Ray on this machine for this job")
    parser.add_argument("--model-dir", type=Path, help="folder with the model files, readable by every worker "
                                                       "(default: class_xls)")
    tags = parser.add_argument_group("genre tags (default: a dry run that prints what would change)")
    tags.add_argument("--write-tags", action="store_true",
                      help="write genre tags: only into files that have none, only answers the engine is sure of")
    tags.add_argument("--overwrite", action="store_true", help="also replace genres that are among the ten")
    tags.add_argument("--overwrite-any", action="store_true", help="also replace any other genre")
    tags.add_argument("--include-unsure", action="store_true", help="also tag answers the engine is not sure of")
    tags.add_argument("--min-probability", type=float, default=0.0, metavar="P",
                      help="write only genres with at least this probability (0-1)")
    tags.add_argument("--genres", type=int, default=1, metavar="N", help="write the top N genres (default 1)")
    tags.add_argument("--separator", default=DEFAULT_SEPARATOR,
                      help=f"joins several genres where the format keeps one value (default {DEFAULT_SEPARATOR!r})")
    tags.add_argument("--undo", action="store_true",
                      help="put back the genres a tagging run recorded in --out changed, and stop")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.workers is not None and args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.genres < 1 or not 0.0 <= args.min_probability <= 1.0:
        parser.error("--genres must be at least 1 and --min-probability between 0 and 1")
    if args.undo:
        return _undo(args.out)
    if not args.inputs:
        parser.error("name the folders (or files) to classify, or --undo")
    options = TagOptions(overwrite=args.overwrite, overwrite_any=args.overwrite_any,
                         include_unsure=args.include_unsure, min_probability=args.min_probability, genres=args.genres,
                         separator=args.separator)
    paths = expand(args.inputs)
    if not paths:
        print("error: no audio files found in the given folders", file=sys.stderr)
        return 1
    model_dir = args.model_dir.resolve() if args.model_dir else None  # None: each worker's own class_xls
    try:
        folder = ModelFolder.open(model_dir)
        engine = folder.engine(args.engine)
        digest = folder.digest(engine)
    except GenreClassifierError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    import ray

    logging.getLogger("ray.data").setLevel(logging.ERROR)  # Ray Data draws its progress bars; this prints the summary
    stop_on_signals()
    temp = None if args.address else tempfile.mkdtemp(prefix="genre-ray-", dir=_short_temp_root())
    worker_temp = None if temp is None else os.path.join(temp, "work")
    if worker_temp:
        os.mkdir(worker_temp)
    summary = Summary(interrupted=True)
    try:
        try:
            if args.address:
                ray.init(address=args.address, runtime_env=_runtime_env(), logging_level=logging.ERROR,
                         log_to_driver=False)
            else:
                ray.init(num_cpus=args.workers or os.cpu_count(), include_dashboard=False, _temp_dir=temp,
                         runtime_env=_runtime_env(worker_temp), logging_level=logging.ERROR, log_to_driver=False)
        except (ConnectionError, RuntimeError, OSError, ValueError) as exc:
            where = f"the Ray cluster at {args.address}" if args.address else "Ray on this machine"
            print(f"error: could not start or reach {where}: {exc}", file=sys.stderr)
            return 2
        stop_on_signals()  # again: ray.init makes SIGTERM exit the driver at once, without its summary
        workers = args.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        settings = JobSettings(engine=engine, models=str(model_dir) if model_dir else None, workers=workers,
                               model_digest=digest)
        summary = run(paths, args.out, settings)
    except KeyboardInterrupt:
        pass
    finally:
        ray.shutdown()
        if temp:
            shutil.rmtree(temp, ignore_errors=True)
    print(summary.line())
    if summary.interrupted:
        return 130
    report = tag_library(args.out, paths, options, args.write_tags)
    _print_report(report)
    if report.interrupted:
        print(f"interrupted while tagging: {report.changed} files tagged and recorded (--undo puts them back); "
              f"the others are unchanged")
        return 130
    print(f"tagged {report.changed} files" if args.write_tags else
          f"dry run: would tag {report.changed} files (add --write-tags to write them)")
    return 1 if summary.errors or report.count(FAILED) else 0


def _undo(out: Path) -> int:
    """`--undo`: restore what the tagging runs recorded in `out` changed; prints the report."""
    if not out.is_dir():
        print(f"error: no results folder {out}", file=sys.stderr)
        return 2
    stop_on_signals()
    report = undo(out)
    _print_report(report)
    restored = report.count(RESTORED)
    if report.interrupted:
        print(f"interrupted: {restored} files restored and recorded; run --undo again for the rest")
        return 130
    print(f"undo: {restored} files restored, {report.count(RETAGGED)} left alone, {report.count(FAILED)} failed")
    return 1 if report.count(FAILED) else 0


def _print_report(report: TagReport) -> None:
    for line in report.lines():
        print(line)


if __name__ == "__main__":
    sys.exit(main())
