"""Tag a whole music library: classify every audio file under some folders on Ray Data, one Parquet row per file.

    python -m codeFeature.batch MUSIC_DIR... --out results.parquet [--engine E] [--workers N] [--address ADDR]
                                [--models DIR] [--write-tags]

Without --address, Ray starts on this machine for the job and stops after it (nothing to set up). With --address
(`auto`, `HOST:6379` or `ray://HOST:10001`) the job runs on that Ray cluster; from a checkout, the project is shipped
to its workers with Ray's runtime environment (an installed package must be installed on the workers too).

The job (batch_job): the files are hashed and featurised in parallel tasks and judged by a pool of actors that each
load the models once; rows are written to --out in parts as they arrive (results_store). A file that cannot be
classified is a row with the CLI's one-line message in `error`. A rerun with the same --out skips files whose content
hash is already there. Ctrl-C or SIGTERM stops the job; rows already received are written, the songs in flight are
lost.

--write-tags writes each classified file's top genre into its own genre tag (genre_tags); without it the job prints
what it would change (a dry run).
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from .batch_job import JobSettings, Summary, run, sha1_of
from .config import ENGINES, MODEL_DIR, PROJECT_DIR
from .engines import EngineSettings
from .errors import GenreClassifierError
from .genre_tags import TAG_NAMES, TagWriteError, read_genre, write_genre
from .model_card import read_card
from .predict import expand
from .results_store import PartWriter, ResultRow, read_results

_MAX_TEMP_ROOT = 24  # Ray adds ~82 bytes of folder, session and socket names below the temporary folder
_RUNTIME_EXCLUDES = [".git", ".cache", "genres_original", "tests", "benchmarks", "*.parquet", "__pycache__"]


def tag_files(out: Path, paths: list[Path], write: bool) -> tuple[int, int]:
    """Give each of `paths` classified in the results folder `out` its top genre as genre tag (`write`), or print
    what would change. A file whose tag was written gets a row for its new content hash too (a copy of its result),
    so that a rerun still skips it. Returns (files changed or to change, files that could not be tagged)."""
    table = read_results(out).to_pylist()
    latest = {record["path"]: record for record in table if record["error"] is None}
    writer = PartWriter(out)
    changed = failed = 0
    try:
        for path in map(str, paths):
            record = latest.get(path)
            if record is None:
                continue
            try:
                current = read_genre(Path(path))
                wanted = TAG_NAMES[record["genre"]]
                if current == wanted:
                    continue
                if write:
                    write_genre(Path(path), record["genre"])
                    writer.add(ResultRow.from_record({**record, "sha1": sha1_of(Path(path))}))
                print(f"{'set' if write else 'would set'} genre of {path}: {current!r} -> {wanted!r}")
                changed += 1
            except TagWriteError as exc:
                print(f"{path}: {exc}", file=sys.stderr)
                failed += 1
    finally:
        writer.flush()
    return changed, failed


def _stop_on_sigterm() -> None:
    """Make SIGTERM end the job as Ctrl-C does (KeyboardInterrupt in the main thread)."""
    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def _short_temp_root() -> str:
    """The temporary folder, or /tmp if its path is too long for the Unix sockets Ray makes inside it (107 bytes)."""
    root = tempfile.gettempdir()
    return root if len(root) <= _MAX_TEMP_ROOT else "/tmp"


def _runtime_env() -> dict:
    """Ray's runtime environment for the workers: from a checkout, the project itself (code and class_xls)."""
    env = {"env_vars": {"TF_CPP_MIN_LOG_LEVEL": "3"}}
    if (PROJECT_DIR / "pyproject.toml").is_file() and (PROJECT_DIR / "class_xls").is_dir():
        env.update(working_dir=str(PROJECT_DIR), excludes=_RUNTIME_EXCLUDES)
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m codeFeature.batch",
                                     description="Classify every audio file under some folders into a Parquet table.")
    parser.add_argument("inputs", nargs="+", metavar="MUSIC_DIR", help="folders (or files) to classify")
    parser.add_argument("--out", type=Path, required=True, help="results folder of Parquet parts (results.parquet)")
    parser.add_argument("--engine", choices=ENGINES, help="default: the best measured (engines.json)")
    parser.add_argument("--workers", type=int, help="judges (model actors); default: one per CPU of the cluster")
    parser.add_argument("--address", help="an existing Ray cluster (auto, HOST:6379, ray://HOST:10001); "
                                          "default: start Ray on this machine for this job")
    parser.add_argument("--models", type=Path, help="model folder, readable by every worker (default: class_xls)")
    parser.add_argument("--write-tags", action="store_true",
                        help="write each file's top genre into its genre tag (default: only say what would change)")
    args = parser.parse_args(argv)
    if args.workers is not None and args.workers < 1:
        parser.error("--workers must be at least 1")
    paths = expand(args.inputs)
    if not paths:
        print("error: no audio files found in the given folders", file=sys.stderr)
        return 1
    model_dir = args.models.resolve() if args.models else MODEL_DIR
    try:
        engine = args.engine or EngineSettings.read(model_dir).default_engine
        digest = read_card(model_dir).engines[engine].digest
    except (GenreClassifierError, KeyError) as exc:
        print(f"error: the models cannot be used: {exc}", file=sys.stderr)
        return 2

    import ray

    logging.getLogger("ray.data").setLevel(logging.ERROR)  # this command prints its own progress and summary
    _stop_on_sigterm()
    temp = None if args.address else tempfile.mkdtemp(prefix="genre-ray-", dir=_short_temp_root())
    summary = Summary(interrupted=True)
    try:
        try:
            if args.address:
                ray.init(address=args.address, runtime_env=_runtime_env(), logging_level=logging.ERROR,
                         log_to_driver=False)
            else:
                ray.init(num_cpus=args.workers or os.cpu_count(), include_dashboard=False, _temp_dir=temp,
                         runtime_env=_runtime_env(), logging_level=logging.ERROR, log_to_driver=False)
        except (ConnectionError, RuntimeError, OSError, ValueError) as exc:
            where = f"the Ray cluster at {args.address}" if args.address else "Ray on this machine"
            print(f"error: could not start or reach {where}: {exc}", file=sys.stderr)
            return 2
        workers = args.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        settings = JobSettings(engine, str(args.models.resolve()) if args.models else None, workers, digest)
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
    try:
        changed, failed = tag_files(args.out, paths, args.write_tags)
    except KeyboardInterrupt:
        print("interrupted while tagging: the files tagged so far keep their new tags")
        return 130
    print(f"{'tagged' if args.write_tags else 'dry run: would tag'} {changed} files"
          + (f"; {failed} could not be tagged" if failed else "")
          + ("" if args.write_tags else " (add --write-tags to write them)"))
    return 1 if summary.errors or failed else 0


if __name__ == "__main__":
    sys.exit(main())
