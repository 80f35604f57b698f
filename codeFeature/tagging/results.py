"""A batch job's results: a folder of Parquet parts, one row per input file, written as results come in.

    results.parquet/part-<run>-<n>.parquet

Each part is written under a hidden temporary name and then renamed, so a part is either whole or absent, whatever
stops the job; pyarrow (`pyarrow.parquet.read_table("results.parquet")`) and pandas read the folder as one table.
A rerun reads the content hashes already there (`done_hashes`) and skips those files.
"""
from __future__ import annotations

import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from codeFeature.config import GENRES

_TEMP_PREFIX = ".writing-"


@dataclass(frozen=True, kw_only=True)
class ResultRow:
    """One input file's row: what it is, what the classifier said (probabilities one column per genre, as
    `prob_<genre>`), or why it could not (`error`, the CLI's one-line message).

    A row that records a change of the file's genre tag (library_tags) copies the file's classification and adds
    `tag_action` ("fill", "replace" or "undo"), the genre values before and after (`previous_genre`, [] for none;
    `written_genre`), when (`tagged_at`, ISO 8601 UTC) and the file's content hash before (`sha1_before`; `sha1` is
    the hash after)."""

    path: str
    sha1: str
    duration_s: float | None
    genre: str | None
    probabilities: dict[str, float] | None
    tags: list[str]
    confident: bool | None
    engine: str
    model_digest: str
    error: str | None
    tag_action: str | None = None
    previous_genre: list[str] | None = None
    written_genre: list[str] | None = None
    tagged_at: str | None = None
    sha1_before: str | None = None

    def record(self) -> dict:
        """The row as Parquet columns."""
        values = asdict(self)
        probabilities = values.pop("probabilities") or {}
        return {**values, **{f"prob_{genre}": probabilities.get(genre) for genre in GENRES}}

    @classmethod
    def from_record(cls, record: dict) -> ResultRow:
        """The row of a Parquet record (as `record` gives, or read back from a part)."""
        values = {key: value for key, value in record.items() if not key.startswith("prob_")}
        probabilities = {genre: record[f"prob_{genre}"] for genre in GENRES}
        known = None if any(p is None for p in probabilities.values()) else probabilities
        return cls(**values, probabilities=known)


SCHEMA = pa.schema([
    ("path", pa.string()), ("sha1", pa.string()), ("duration_s", pa.float64()), ("genre", pa.string()),
    ("tags", pa.list_(pa.string())), ("confident", pa.bool_()), ("engine", pa.string()),
    ("model_digest", pa.string()), ("error", pa.string()),
    *[(f"prob_{genre}", pa.float64()) for genre in GENRES],
    ("tag_action", pa.string()), ("previous_genre", pa.list_(pa.string())), ("written_genre", pa.list_(pa.string())),
    ("tagged_at", pa.string()), ("sha1_before", pa.string()),
])


def done_hashes(folder: Path) -> set[str]:
    """Content hashes of the files that already have a row in `folder` (none if it does not exist yet). Leftover
    temporary files of a killed run are removed first."""
    folder = Path(folder)
    if not folder.is_dir():
        return set()
    for stale in folder.glob(f"{_TEMP_PREFIX}*"):
        stale.unlink(missing_ok=True)
    parts = sorted(folder.glob("part-*.parquet"))
    return {sha for part in parts for sha in pq.read_table(part, columns=["sha1"]).column("sha1").to_pylist()}


def read_results(folder: Path) -> pa.Table:
    """Every row in `folder`, as one table (columns a part written by an older version lacks are null)."""
    parts = sorted(Path(folder).glob("part-*.parquet"))
    return pa.concat_tables([_read_part(part) for part in parts]) if parts else SCHEMA.empty_table()


def read_rows(folder: Path) -> list[ResultRow]:
    """Every row in `folder`, in the order the parts were written."""
    return [ResultRow.from_record(record) for record in read_results(folder).to_pylist()]


def _read_part(part: Path) -> pa.Table:
    table = pq.read_table(part)
    for name in SCHEMA.names:
        if name not in table.column_names:
            table = table.append_column(name, pa.nulls(table.num_rows, SCHEMA.field(name).type))
    return table.select(SCHEMA.names).cast(SCHEMA)


class PartWriter:
    """Collects rows and writes them to `folder` as a new part whenever `every_rows` rows or `every_s` seconds have
    gathered (and on `flush`), each part atomically."""

    def __init__(self, folder: Path, every_rows: int = 32, every_s: float = 10.0) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.every_rows, self.every_s = every_rows, every_s
        self.written = 0
        self._run = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
        self._parts = 0
        self._names: list[str] = []
        self._rows: list[dict] = []
        self._since = time.monotonic()

    def add(self, row: ResultRow) -> None:
        self._rows.append(row.record())
        if len(self._rows) >= self.every_rows or time.monotonic() - self._since >= self.every_s:
            self.flush()

    def flush(self) -> None:
        """Write the rows gathered so far as one part (nothing if there are none)."""
        if self._rows:
            self._write(self._rows)
            self.written += len(self._rows)
            self._rows = []
        self._since = time.monotonic()

    def merge(self) -> None:
        """Rewrite the parts this writer wrote as one (after `flush`). The merged part is in place before the small
        ones go, so an interruption leaves rows twice (harmless: rows are facts), never lost."""
        if len(self._names) < 2:
            return
        rows = pa.concat_tables([pq.read_table(self.folder / name) for name in self._names]).to_pylist()
        small, self._names = self._names, []
        self._write(rows)
        for name in small:
            (self.folder / name).unlink(missing_ok=True)

    def _write(self, rows: Sequence[dict]) -> None:
        name = f"part-{self._run}-{self._parts:05d}.parquet"
        temporary = self.folder / f"{_TEMP_PREFIX}{name}"
        try:
            pq.write_table(pa.Table.from_pylist(list(rows), schema=SCHEMA), temporary)
            os.replace(temporary, self.folder / name)
        finally:
            temporary.unlink(missing_ok=True)
        self._parts += 1
        self._names.append(name)
