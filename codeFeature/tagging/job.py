"""A batch job's pipeline on Ray Data: hash and featurise files in parallel tasks, judge them in a pool of actors
that load the models once, and gather the rows into a results folder as they arrive.

`run` needs a connected Ray (the `batch` command starts or joins one). Each file ends as one ResultRow; a file that
cannot be classified is a row with the CLI's one-line message in `error`, never a failed job.
"""
from __future__ import annotations

import pickle
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from codeFeature.cpu_claim import claim_one_cpu
from codeFeature.engine.classifier import GenreClassifier, featurise
from codeFeature.engine.prediction import Failure, Prediction
from codeFeature.errors import GenreClassifierError
from codeFeature.hashing import sha1_of
from codeFeature.tagging.results import PartWriter, ResultRow, done_hashes

SONGS_PER_JUDGE_BATCH = 4
# Ray CPUs per judge (actor) and per featurising task: a song's model work costs several times its decoding and
# features, so one worker (one CPU) is a judge beside a featurising task.
JUDGE_CPUS, FEATURISE_CPUS = 0.75, 0.25
@dataclass(frozen=True, kw_only=True)
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
    """A Ray Data actor: loads the engine's models once (on a CPU of its own where one is free), then judges batches
    of featurised songs ("result": the pickled Prediction, or Failure with the CLI's one-line message)."""

    def __init__(self, engine: str, models: str | None) -> None:
        self._cpu_claim = claim_one_cpu()
        self.classifier = GenreClassifier(models, engine)
        self.classifier.warm_up()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        results = []
        for path, skipped, featurised, error in zip(batch["path"], batch["skipped"], batch["featurised"],
                                                    batch["error"]):
            if skipped:
                results.append(b"")
                continue
            result: Prediction | Failure = Failure(str(path), str(error))
            if not error:
                try:
                    result = self.classifier.classify_features(pickle.loads(featurised), str(path))
                except GenreClassifierError as exc:
                    result = Failure(str(path), str(exc))
            results.append(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
        return {"path": batch["path"], "sha1": batch["sha1"], "skipped": batch["skipped"],
                "result": np.array(results, dtype=object)}


def result_row(path: str, sha1: str, result: Prediction | Failure, settings: JobSettings) -> ResultRow:
    """The Parquet row of one file's result."""
    if isinstance(result, Failure):
        return ResultRow(path=path, sha1=sha1, duration_s=None, genre=None, probabilities=None, tags=[], confident=None,
                         engine=settings.engine, model_digest=settings.model_digest, error=result.error)
    return ResultRow(path=path, sha1=sha1, duration_s=result.duration_s, genre=result.genre,
                     probabilities=dict(result.probabilities), tags=[tag for tag, _ in result.tags],
                     confident=result.confident, engine=settings.engine, model_digest=settings.model_digest, error=None)


def run(paths: list[Path], out: Path, settings: JobSettings, progress: bool = True) -> Summary:
    """Classify `paths` on the connected Ray cluster into the results folder `out`; returns the summary. Rows are
    written as they arrive; KeyboardInterrupt ends the job early with what was written kept (Summary.interrupted)."""
    import ray

    done = frozenset(done_hashes(out))
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = progress  # Ray Data's own progress bars, on stderr
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
                result = pickle.loads(row["result"])
                writer.add(result_row(row["path"], row["sha1"], result, settings))
                if isinstance(result, Failure):
                    summary.errors += 1
                else:
                    summary.classified += 1
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        writer.flush()
        summary.seconds = time.monotonic() - started
    return summary
