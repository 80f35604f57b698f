"""Distil the musicnn student (models/student.py) from musicnn, and give the genre head the student's outputs.

What the student learns from (dataset.PATCHES, cached by content): every track's log-mel patches, for each audio
variant (original, loud master, loud + noisy + lossy; augment.VARIANTS), of its ten judged segments and of
STUDENT_CROPS extra random crops; the targets are musicnn's outputs on the same patches: its 50 tag logits
(genre_head.tag_logits of its likelihoods) and its 200-d embedding, each standardised per number, fitted by mean
squared error. No genre label is used.

Held-out figures stay honest by cross-fitting: the tracks are cut into two halves (folds.track_folds: GTZAN
stratified, real songs grouped by artist), a student is distilled on each half, and every track's student outputs
come from the student of the other half, which never heard it. The genre head's evaluation runs, its "not sure"
rule and its final fit read these outputs; the shipped student, distilled on every track, is what serving runs (a
song it never heard is what the half-students' outputs stand for). The three fits run in parallel processes.
"""
from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from codeFeature.config import EAR_OUTPUTS
from codeFeature.errors import DatasetError
from codeFeature.models.ears import ear
from codeFeature.models.genre_head import tag_logits
from codeFeature.models.runtime import InferenceModel
from codeFeature.models.student import STUDENT_NAME, TAG_LOGITS, build_student
from codeFeature.training import dataset
from codeFeature.training.fit_cnn import one_tensorflow_thread
from codeFeature.training.fit_head import HeadData
from codeFeature.training.folds import track_folds

TEACHER = "musicnn"
HALVES = 2


@dataclass(frozen=True)
class StudentSettings:
    """Hyper-parameters of one distillation (recorded in metrics.json)."""

    epochs: int = 6
    batch_size: int = 64
    learning_rate: float = 2e-3  # Adam, decayed to 5 % along a cosine over the run
    seed: int = 0


@dataclass(frozen=True)
class FitJob:
    """One distillation: its name, the patch files and teacher targets of the tracks it learns from, and the patch
    files of the tracks it must judge (their track indices in `judge`)."""

    name: str
    train_files: list[Path]
    train_targets: list[dict[str, np.ndarray]]  # per track {output: (variants, segments, dims)} of the judged ones
    judge: np.ndarray
    judge_files: list[Path]
    out_dir: Path | None  # where to save the student (the shipped one), else None


@dataclass(frozen=True)
class Distilled:
    """The outcome: the genre head's data over the student's cross-fitted outputs (`head_data`, its ear
    STUDENT_NAME), the shipped student's folder (`model_dir`, a temporary folder of the caller) and metrics.json's
    record of it (`record`)."""

    head_data: HeadData
    model_dir: Path
    record: dict


def distil(tracks: list[dataset.Track], teacher: HeadData, cache_dir: Path, scratch: Path,
           settings: StudentSettings = StudentSettings(), workers: int | None = None, log=print) -> Distilled:
    """The student for `tracks` (whose musicnn outputs `teacher` holds, in the same order): the two cross-fitting
    half-students and the shipped one, fitted in `workers` processes; the shipped one is saved into `scratch`."""
    started = time.perf_counter()
    kept, files = dataset.cached(tracks, cache_dir, settings.seed, workers, log, dataset.PATCHES)
    if len(kept) != len(tracks):
        raise DatasetError("The patch and network features cover different tracks; clear the cache and retry.")
    targets = [{output: outputs[TEACHER][output] for output in EAR_OUTPUTS} for outputs in teacher.outputs]
    everything = np.arange(len(tracks))
    halves = track_folds(everything, teacher.labels, teacher.gtzan, teacher.artists, HALVES, settings.seed + 2)
    jobs = [FitJob("all", files, targets, everything[:0], [], scratch)]
    jobs += [FitJob(f"half{k}", [files[i] for i in train], [targets[i] for i in train], test,
                    [files[i] for i in test], None) for k, (train, test) in enumerate(halves, start=1)]
    log(f"distilling the student from {TEACHER}: {len(jobs)} fits (all tracks, and two halves for held-out outputs)"
        f", {settings.epochs} epochs each")
    outputs: list[dict[str, np.ndarray] | None] = [None] * len(tracks)
    fits = {}
    with ProcessPoolExecutor(max_workers=min(len(jobs), workers or os.cpu_count() or 1),
                             mp_context=multiprocessing.get_context("spawn")) as pool:
        for job, (judged, record) in zip(jobs, pool.map(fit_job, jobs, [settings] * len(jobs))):
            log(f"  {job.name}: {record['examples']} patches, loss {record['losses'][-1]:.3f}, {record['seconds']} s")
            fits[job.name] = record
            for i, values in zip(job.judge, judged):
                outputs[i] = values
    fidelity = agreement(targets, outputs)
    log(f"  held-out agreement with {TEACHER}: " + ", ".join(f"{k} {v:.3f}" for k, v in fidelity.items()))
    head_data = replace(teacher, outputs=[{STUDENT_NAME: values} for values in outputs], _inputs={})
    record = {"teacher": TEACHER, "settings": asdict(settings), "macs_per_segment": ear(STUDENT_NAME).macs,
              "crops_per_variant": dataset.STUDENT_CROPS, "fits": fits, "held_out_agreement": fidelity,
              "seconds": round(time.perf_counter() - started, 1)}
    return Distilled(head_data, scratch, record)


def agreement(targets: list[dict[str, np.ndarray]], outputs: list[dict[str, np.ndarray]]) -> dict[str, float]:
    """How well held-out student outputs match the teacher's on the original audio: R^2 of the tag logits and of the
    embedding (over every judged segment), and how often the two agree on the strongest tag."""
    def stacked(values: list[dict[str, np.ndarray]], output: str) -> np.ndarray:
        rows = np.concatenate([v[output][0] for v in values]).astype(np.float64)
        return tag_logits(rows) if output == "tags" else rows

    result = {}
    for output in EAR_OUTPUTS:
        truth, guess = stacked(targets, output), stacked(outputs, output)
        result[f"{output}_r2"] = round(1 - float(np.sum((truth - guess) ** 2) / np.sum((truth - truth.mean(0)) ** 2)),
                                       4)
    truth, guess = stacked(targets, "tags"), stacked(outputs, "tags")
    result["top_tag_agreement"] = round(float(np.mean(truth.argmax(1) == guess.argmax(1))), 4)
    return result


def training_arrays(files: list[Path], targets: list[dict[str, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Every patch of the tracks (`files`, dataset.PATCHES) and its teacher target row (tag logits, then
    embedding): (n, 187, 96) float32 and (n, 50 + 200) float32."""
    patches, rows = [], []
    for path, target in zip(files, targets):
        with np.load(path) as stored:
            patches += [stored["eval"].reshape(-1, *stored["eval"].shape[2:]),
                        stored["crops"].reshape(-1, *stored["crops"].shape[2:])]
            crops = {output: stored[f"crops_{output}"] for output in EAR_OUTPUTS}
        for source in (target, crops):
            rows.append(np.concatenate([tag_logits(source["tags"].reshape(-1, source["tags"].shape[-1])),
                                        source["penultimate"].reshape(-1, source["penultimate"].shape[-1])], axis=1))
    return np.concatenate(patches).astype(np.float32), np.concatenate(rows).astype(np.float32)


def fit(x: np.ndarray, y: np.ndarray, settings: StudentSettings, log=None):
    """A fresh student fitted to teacher rows `y` (tag logits, then embedding) of patches `x`, on standardised
    targets whose scale is then folded into its last layers; returns (the keras.Model, loss per epoch)."""
    import keras

    keras.backend.clear_session()  # restart layer numbering: the saved files then do not depend on earlier runs
    keras.utils.set_random_seed(settings.seed)
    student = build_student()
    trained = keras.Model(student.input, keras.layers.Concatenate(name="targets")(
        [student.get_layer(TAG_LOGITS).output, student.output["penultimate"]]))
    mean, scale = y.mean(axis=0), y.std(axis=0) + 1e-3
    steps = settings.epochs * int(np.ceil(len(x) / settings.batch_size))
    trained.compile(optimizer=keras.optimizers.Adam(
        keras.optimizers.schedules.CosineDecay(settings.learning_rate, steps, alpha=0.05)), loss="mse")
    history = trained.fit(x, (y - mean) / scale, batch_size=settings.batch_size, epochs=settings.epochs,
                          shuffle=True, verbose=0)
    n_tags = student.get_layer(TAG_LOGITS).units  # fold the standardisation into the two last layers
    for layer, part in ((student.get_layer(TAG_LOGITS), slice(0, n_tags)),
                        (student.get_layer("penultimate"), slice(n_tags, None))):
        kernel, bias = layer.get_weights()
        layer.set_weights([kernel * scale[part], bias * scale[part] + mean[part]])
    return student, [round(float(v), 4) for v in history.history["loss"]]


def fit_job(job: FitJob, settings: StudentSettings) -> tuple[list[dict[str, np.ndarray]], dict]:
    """Worker: one distillation. Returns the student's outputs ({output: (variants, segments, dims)} float16) for
    each track of `job.judge`, run as served (models.runtime), and the fit's record; saves the student into
    `job.out_dir` when it has one."""
    from codeFeature.models.keras_files import save_keras

    one_tensorflow_thread()
    started = time.perf_counter()
    x, y = training_arrays(job.train_files, job.train_targets)
    examples = len(x)
    student, losses = fit(x, y, settings)
    del x, y
    judged = []
    if len(job.judge_files):
        model = InferenceModel(student)
        for path in job.judge_files:
            with np.load(path) as stored:
                patches = stored["eval"].astype(np.float32)
            values = model(patches.reshape(-1, *patches.shape[2:]))
            judged.append({output: values[output].reshape(*patches.shape[:2], -1).astype(np.float16)
                           for output in EAR_OUTPUTS})
    if job.out_dir is not None:
        save_keras(student, *ear(STUDENT_NAME).files(job.out_dir))
    record = {"tracks": len(job.train_files), "examples": examples,
              "losses": losses, "seconds": round(time.perf_counter() - started, 1)}
    return judged, record

