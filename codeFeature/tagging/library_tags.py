"""Tag a library from a batch job's results without losing what its owner wrote: plan, write, undo.

Rules (what `plan` decides for one file):
- a file with no genre tag is *filled* with its genres;
- a file that has a genre is *kept*, unless `overwrite` (then one whose every value is one of the ten genres is
  *replaced*; with `keep_existing` too, its values not of the ten are kept and ours added after them) or
  `overwrite_any` (then any genre is replaced);
- a prediction the engine is not sure of is *skipped* unless `include_unsure`; so is one whose top genre is below
  `min_probability`;
- the genres written are the top `genres` whose probability reaches `min_probability`, spelled as TAG_NAMES, as
  several values where the format has them, else joined with `separator`.
Every change is recorded in the results folder as a row (results.ResultRow with `tag_action`,
`previous_genre`, `written_genre`, `tagged_at`, `sha1_before` and the new `sha1`) as soon as the file is written, and
SIGINT or SIGTERM arriving meanwhile waits until the row is on disk: a file is old or new, never half-written, and
every new one can be undone. `undo` restores each changed file whose tag is still the one written.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

from mutagen.id3 import TCON

from codeFeature.config import GENRES
from codeFeature.hashing import sha1_of
from codeFeature.signals import signals_held
from codeFeature.tagging.file_tags import (
    DEFAULT_SEPARATOR,
    TAG_NAMES,
    TagWriteError,
    as_values,
    read_genres,
    write_genres,
)
from codeFeature.tagging.results import PartWriter, ResultRow, read_rows

FILL, REPLACE, KEEP, SAME, UNSURE, FAILED, UNDO = "fill", "replace", "keep", "same", "unsure", "failed", "undo"
RESTORED, RETAGGED = "restored", "retagged"  # what `undo` did to a file
# The plan's groups, in the order they are printed, with their headings (dry run, then run).
GROUPS: dict[str, tuple[str, str]] = {
    FILL: ("would fill (no genre yet)", "filled (no genre before)"),
    REPLACE: ("would replace", "replaced"),
    KEEP: ("kept (has a genre)", "kept (has a genre)"),
    SAME: ("unchanged (already tagged so)", "unchanged (already tagged so)"),
    UNSURE: ("skipped (not sure)", "skipped (not sure)"),
    RESTORED: ("would restore", "restored"),
    RETAGGED: ("left alone (retagged since)", "left alone (retagged since)"),
    FAILED: ("failed", "failed"),
}
_BY_NAME = {name.lower(): genre for genre, name in TAG_NAMES.items()} | {genre: genre for genre in GENRES} | {
    "hip hop": "hiphop", "rap": "hiphop"}


@dataclass(frozen=True)
class Flags:
    """How the caller's command line spells the options a skipped file's `why` points to (None: it has none)."""

    include_unsure: str = "--include-unsure"
    overwrite: str = "--overwrite"
    overwrite_any: str | None = "--overwrite-any"
    min_probability: str = "--min-probability"


@dataclass(frozen=True, kw_only=True)
class TagOptions:
    """How a library is tagged (the batch command's flags)."""

    overwrite: bool = False
    overwrite_any: bool = False
    include_unsure: bool = False
    min_probability: float = 0.0
    genres: int = 1
    separator: str = DEFAULT_SEPARATOR
    keep_existing: bool = False  # with `overwrite`: keep the values that are not one of the ten, add ours after them
    flags: Flags = Flags()


@dataclass(frozen=True)
class PlannedTag:
    """What happens to one file: `action` (FILL, REPLACE, KEEP, SAME, UNSURE or FAILED; RESTORED or RETAGGED in
    an undo), its genre values now and the values it gets, and `why` for a file left alone."""

    path: str
    action: str
    current: tuple[str, ...] = ()
    wanted: tuple[str, ...] = ()
    why: str = ""

    def line(self) -> str:
        """One line for a person: the file and what changes."""
        now = " · ".join(self.current) if self.current else "none"
        if self.action in (FILL, REPLACE, RESTORED):
            return f"{self.path}: {now} -> {' · '.join(self.wanted) or 'none'}"
        return f"{self.path}: {(self.why or now).removeprefix(Path(self.path).name + ': ')}"


@dataclass
class TagReport:
    """What a tagging run (or its dry run) did, file by file, grouped by action."""

    written: bool
    planned: list[PlannedTag] = field(default_factory=list)
    interrupted: bool = False  # stopped by Ctrl-C or SIGTERM between two files

    def count(self, action: str) -> int:
        return sum(p.action == action for p in self.planned)

    @property
    def changed(self) -> int:
        return self.count(FILL) + self.count(REPLACE)

    def lines(self) -> Iterator[str]:
        """The plan as a person reads it: each non-empty group with its files."""
        for action, headings in GROUPS.items():
            members = [p for p in self.planned if p.action == action]
            if members:
                yield f"{headings[self.written]}: {len(members)}"
                yield from (f"  {p.line()}" for p in members)


def genre_of(value: str) -> str | None:
    """Our genre for one raw tag value ("Hip-Hop", "hip hop", "(17)" -> rock), or None if it names another."""
    names = TCON(text=[value]).genres or [value]  # ID3v1 numbers such as "(17)" become their names
    found = {_BY_NAME.get(name.strip().lower()) for name in names}
    return found.pop() if len(found) == 1 else None


def wanted_genres(probabilities: dict[str, float], options: TagOptions) -> tuple[str, ...]:
    """The top `options.genres` genres whose probability reaches `options.min_probability`, most likely first."""
    ranked = sorted(probabilities.items(), key=lambda item: item[1], reverse=True)
    return tuple(genre for genre, p in ranked[:options.genres] if p >= options.min_probability)


def plan(row: ResultRow, current: tuple[str, ...], options: TagOptions, path: Path) -> PlannedTag:
    """What tagging does to the file at `path`, classified as `row`, whose genre values are `current`."""
    return decide(bool(row.confident), row.probabilities or {}, current, options, str(path),
                  partial(as_values, path=path, separator=options.separator))


def decide(confident: bool, probabilities: dict[str, float], current: tuple[str, ...], options: TagOptions,
           name: str, to_values: Callable[[list[str]], tuple[str, ...]]) -> PlannedTag:
    """What tagging does to `name` (a file, or a library item), classified with `probabilities` (sure or not),
    whose genre values are `current`; `to_values` turns genre names into the values it stores (see module doc)."""
    flags = options.flags
    if not options.include_unsure and not confident:
        best = max(probabilities, key=probabilities.get) if probabilities else "none"
        return PlannedTag(name, UNSURE, current, why=f"not sure (best guess: {best}); {flags.include_unsure} tags it")
    genres = wanted_genres(probabilities, options)
    if not genres:
        return PlannedTag(name, UNSURE, current, why=f"below {flags.min_probability} {options.min_probability:g}")
    wanted = to_values([TAG_NAMES[g] for g in genres])
    theirs = tuple(value for value in current if genre_of(value) is None)
    if options.overwrite and options.keep_existing and not options.overwrite_any:
        wanted = theirs + tuple(value for value in wanted if value not in theirs)
    if current == wanted:
        return PlannedTag(name, SAME, current, wanted, why=" · ".join(current))
    if not current:
        return PlannedTag(name, FILL, current, wanted)
    if options.overwrite_any or (options.overwrite and (options.keep_existing or not theirs)):
        return PlannedTag(name, REPLACE, current, wanted)
    hint = f"{flags.overwrite} replaces it" if not theirs else "not one of the ten genres; " + (
        f"{flags.overwrite_any} replaces it" if flags.overwrite_any else "kept")
    return PlannedTag(name, KEEP, current, wanted, why=f"has {' · '.join(current)} ({hint})")


def tag_library(out: Path, paths: Iterable[Path], options: TagOptions, write: bool) -> TagReport:
    """Plan (and with `write`, carry out) the tags of `paths` from the results folder `out`; each change is
    recorded there (see module doc). Ctrl-C or SIGTERM (KeyboardInterrupt) ends the run between two files: the report
    then holds the files done so far and says `interrupted`."""
    latest = latest_results(out)
    rows = ((path, latest.get(str(path))) for path in map(Path, paths))
    return _file_by_file(out, write, (partial(_tag_one, path, row, options, write) for path, row in rows
                                      if row is not None and row.error is None))


def undo(out: Path) -> TagReport:
    """Put back the genre of every file a tagging run recorded in `out` changed (its latest change, not undone
    yet), where the file still has the genre written; a file retagged since, or gone, is left alone and reported.
    Each restore is recorded as an UNDO row (in the report: RESTORED, RETAGGED or FAILED). Interrupts as in
    `tag_library`."""
    return _file_by_file(out, True, (partial(_undo_one, Path(path), row) for path, row in last_changes(out).items()
                                     if row.tag_action != UNDO))


def _file_by_file(out: Path, written: bool, steps: Iterable[Callable[[PartWriter], PlannedTag]]) -> TagReport:
    """Run each step (one file: change it, record it in `out`, say what happened) with signals held, stopping
    between two files on Ctrl-C or SIGTERM."""
    report = TagReport(written=written)
    writer = PartWriter(out, every_rows=1)  # one part per change: nothing written is ever unrecorded
    try:
        for step in steps:
            with signals_held():
                report.planned.append(step(writer))
    except KeyboardInterrupt:
        report.interrupted = True
    finally:
        writer.flush()
        writer.merge()
    return report


def _tag_one(path: Path, row: ResultRow, options: TagOptions, write: bool, writer: PartWriter) -> PlannedTag:
    """Plan one file and, with `write`, change and record it."""
    try:
        planned = plan(row, read_genres(path), options, path)
        if write and planned.action in (FILL, REPLACE):
            _change(path, planned.current, planned.wanted, row, planned.action, writer)
        return planned
    except TagWriteError as exc:
        return PlannedTag(str(path), FAILED, why=str(exc))


def _undo_one(path: Path, change: ResultRow, writer: PartWriter) -> PlannedTag:
    """Restore one file's genre from its recorded `change`, if the file still has the genre written."""
    previous, written = tuple(change.previous_genre or ()), tuple(change.written_genre or ())
    try:
        current = read_genres(path)
        if current != written:
            return PlannedTag(str(path), RETAGGED, current, previous, why=(
                f"has {' · '.join(current) or 'no genre'}, not the {' · '.join(written)} written"))
        _change(path, current, previous, change, UNDO, writer)
        return PlannedTag(str(path), RESTORED, current, previous)
    except TagWriteError as exc:
        return PlannedTag(str(path), FAILED, why=str(exc))


def latest_results(out: Path) -> dict[str, ResultRow]:
    """Each path's latest classification row in the results folder `out` (tag rows copy it, so count too)."""
    return {row.path: row for row in read_rows(out)}


def last_changes(out: Path) -> dict[str, ResultRow]:
    """Each path's latest tag change (FILL, REPLACE or UNDO row) in `out`, in the order they were made."""
    rows = sorted((row for row in read_rows(out) if row.tag_action), key=lambda row: row.tagged_at or "")
    return {row.path: row for row in rows}


def _change(path: Path, current: tuple[str, ...], values: tuple[str, ...], row: ResultRow, action: str,
            writer: PartWriter) -> None:
    """Write `values` into `path`'s genre tag and record it as `action` (a row copying `row`'s classification)."""
    before = sha1_of(path)
    write_genres(path, values)
    writer.add(replace(row, sha1=sha1_of(path), tag_action=action, previous_genre=list(current),
                       written_genre=list(values), sha1_before=before,
                       tagged_at=datetime.now(timezone.utc).isoformat(timespec="microseconds")))
