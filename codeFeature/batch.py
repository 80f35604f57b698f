"""Tag a whole music library: classify every audio file under some folders on Ray Data, one Parquet row per file.

    python -m codeFeature.batch MUSIC_DIR... --out results.parquet [--engine E] [--workers N] [--address ADDR]
                                [--models DIR] [--write-tags]

Without --address, Ray starts on this machine for the job and stops after it (nothing to set up). With --address
(`auto`, `HOST:6379` or `ray://HOST:10001`) the job runs on that Ray cluster; from a checkout, the project is shipped
to its workers with Ray's runtime environment (an installed package must be installed on the workers too).

Pipeline: list the files -> hash and featurise each in parallel CPU tasks (decode, cut, model inputs: the classifier's
`featurise`) -> judge them in a pool of actors that each load the models once (`GenreClassifier.classify_features`)
-> rows, written to --out in parts as they arrive (see results_store). A file that cannot be classified is a row with
the CLI's one-line message in `error`. A rerun with the same --out skips files whose content hash is already there.
Ctrl-C or SIGTERM stops the job; rows already received are written, the songs in flight are lost.

--write-tags writes each classified file's top genre into its own genre tag (genre_tags); without it the job prints
what it would change (a dry run).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import pickle
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .classifier import Failure, GenreClassifier, Prediction, featurise
from .config import ENGINES, MODEL_DIR, PROJECT_DIR
from .engines import EngineSettings
from .errors import GenreClassifierError
from .genre_tags import TAG_NAMES, TagWriteError, read_genre, write_genre
from .model_card import read_card
from .predict import expand
from .results_store import PartWriter, ResultRow, done_hashes, read_results

log = logging.getLogger(__name__)

SONGS_PER_JUDGE_BATCH = 4
# Ray CPUs per judge (actor) and per featurising task: a song's model work costs several times its decoding and
# features, so one worker (one CPU) is a judge beside a featurising task.
JUDGE_CPUS, FEATURISE_CPUS = 0.75, 0.25
_MAX_TEMP_ROOT = 24  # Ray adds ~82 bytes of folder, session and socket names below the temporary folder
_RUNTIME_EXCLUDES = [".git", ".cache", "genres_original", "tests", "benchmarks", "*.parquet", "__pycache__"]


@dataclass(frozen=True)
class JobSettings:
    """What a batch job runs: the engine, where the models are (None: the workers' own class_xls), how many judges
    (actors), and the engine's model digest for the rows."""

    engine: str
    models: str | None
    workers: int
    model_digest: str


@dataclass
class Summary:
    """What a job did: rows written (classified + errors), files skipped as already done, and its wall time."""

    classified: int = 0
    errors: int = 0
    skipped: int = 0
    seconds: float = 0.0
    interrupted: bool = False

    def line(self) -> str:
        songs = self.classified + self.errors
        rate = songs / self.seconds if self.seconds else 0.0
        state = "interrupted" if self.interrupted else "done"
        return (f"{state}: {songs} songs in {self.seconds:.1f} s ({rate:.2f} songs/s), {self.classified} classified, "
                f"{self.errors} errors, {self.skipped} skipped (already in the results)")


def sha1_of(path: Path) -> str:
    """SHA-1 of a file's bytes."""
    digest = hashlib.sha1()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def hash_and_featurise(row: dict, engine: str, done: frozenset[str]) -> dict:
    """A Ray Data task: {"path"} -> the row with its content hash and either "skipped", or the pickled Featurised
    (without the audio, which the judges do not need), or the CLI's error message."""
    path = Path(row["path"])
    out = {"path": row["path"], "sha1": "", "skipped": False, "featurised": b"", "error": ""}
    try:
        out["sha1"] = sha1_of(path)
    except OSError as exc:
        out["error"] = f"The file cannot be read: {exc.strerror or exc}."
        return out
    if out["sha1"] in done:
        out["skipped"] = True
        return out
    try:
        song = featurise(path, engine)
    except GenreClassifierError as exc:
        out["error"] = str(exc)
        return out
    light = replace(song, segments=replace(song.segments, audio=np.empty((0, 0), np.float32)))
    out["featurised"] = pickle.dumps(light, protocol=pickle.HIGHEST_PROTOCOL)
    return out


class Judge:
    """A Ray Data actor: loads the engine's models once (TensorFlow on one thread: the actors share the cores), then
    judges batches of featurised songs into rows (JSON in "result": the CLI's --json object, or {"error"})."""

    def __init__(self, engine: str, models: str | None) -> None:
        from .model import one_tensorflow_thread

        one_tensorflow_thread()
        self.classifier = GenreClassifier(Path(models) if models else MODEL_DIR, engine)
        self.classifier.warm_up()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        results = []
        for path, skipped, featurised, error in zip(batch["path"], batch["skipped"], batch["featurised"],
                                                    batch["error"]):
            if skipped:
                results.append("")
            elif error:
                results.append(json.dumps(Failure(str(path), str(error)).to_dict()))
            else:
                try:
                    result: Prediction | Failure = self.classifier.classify_features(pickle.loads(featurised),
                                                                                     str(path))
                except GenreClassifierError as exc:
                    result = Failure(str(path), str(exc))
                results.append(json.dumps(_full_precision(result)))
        return {"path": batch["path"], "sha1": batch["sha1"], "skipped": batch["skipped"],
                "result": np.array(results, dtype=object)}


def _full_precision(result: Prediction | Failure) -> dict:
    """The CLI's --json object, with the song's probabilities unrounded."""
    data = result.to_dict()
    if isinstance(result, Prediction):
        data["probabilities"] = dict(result.probabilities)
    return data


def result_row(path: str, sha1: str, result: dict, settings: JobSettings) -> ResultRow:
    """A Parquet row from a judge's result (the CLI's --json object or {"file", "error"})."""
    if "error" in result:
        return ResultRow(path, sha1, None, None, None, [], None, settings.engine, settings.model_digest,
                         result["error"])
    return ResultRow(path, sha1, result["duration_s"], result["genre"], result["probabilities"], list(result["tags"]),
                     result["confident"], settings.engine, settings.model_digest, None)


def run(paths: list[Path], out: Path, settings: JobSettings, progress: bool = True) -> Summary:
    """Classify `paths` on the connected Ray cluster into the results folder `out`; returns the summary. Rows are
    written as they arrive; KeyboardInterrupt ends the job early with what was written kept (Summary.interrupted)."""
    import ray

    done = frozenset(done_hashes(out))
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    dataset = (ray.data.from_items([{"path": str(path)} for path in paths],
                                   override_num_blocks=max(1, min(len(paths), 64 * settings.workers)))
               .map(hash_and_featurise, fn_kwargs={"engine": settings.engine, "done": done},
                    num_cpus=FEATURISE_CPUS)
               .map_batches(Judge, fn_constructor_kwargs={"engine": settings.engine, "models": settings.models},
                            batch_size=SONGS_PER_JUDGE_BATCH, num_cpus=JUDGE_CPUS,
                            compute=ray.data.ActorPoolStrategy(size=settings.workers)))
    writer = PartWriter(out)
    summary = Summary()
    started = time.monotonic()
    try:
        for row in dataset.iter_rows():
            if row["skipped"]:
                summary.skipped += 1
            else:
                result = json.loads(row["result"])
                writer.add(result_row(row["path"], row["sha1"], result, settings))
                if "error" in result:
                    summary.errors += 1
                else:
                    summary.classified += 1
            if progress:
                _progress(summary, len(paths), time.monotonic() - started)
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        writer.flush()
        summary.seconds = time.monotonic() - started
        if progress:
            print(file=sys.stderr)
    return summary


def _progress(summary: Summary, total: int, seconds: float) -> None:
    seen = summary.classified + summary.errors + summary.skipped
    width = 30
    filled = int(width * seen / max(total, 1))
    rate = (summary.classified + summary.errors) / seconds if seconds else 0.0
    print(f"\r[{'#' * filled}{'.' * (width - filled)}] {seen}/{total} songs, {rate:.2f} songs/s, "
          f"{summary.errors} errors, {summary.skipped} skipped", end="", file=sys.stderr, flush=True)


def tag_files(out: Path, paths: list[Path], write: bool) -> tuple[int, int]:
    """Give each of `paths` classified in the results folder `out` its top genre as genre tag (`write`), or print
    what would change. A file whose tag was written gets a row for its new content hash too (a copy of its result),
    so that a rerun still skips it. Returns (files changed or to change, files that could not be tagged)."""
    table = read_results(out).to_pylist()
    latest = {record["path"]: record for record in table if record["error"] is None}
    writer = PartWriter(out)
    changed = failed = 0
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
    changed, failed = tag_files(args.out, paths, args.write_tags)
    print(f"{'tagged' if args.write_tags else 'dry run: would tag'} {changed} files"
          + (f"; {failed} could not be tagged" if failed else "")
          + ("" if args.write_tags else " (add --write-tags to write them)"))
    return 1 if summary.errors or failed else 0


if __name__ == "__main__":
    sys.exit(main())
