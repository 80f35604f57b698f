"""beets plugin: genres from the audio itself, with the project's classifier and the batch job's tagging rules.

    beet genreclassify [QUERY]           fill the genre of matching items that have none (sure answers only)
    beet genreclassify -p [QUERY]        print the plan, change nothing
    beet genreclassify -f [QUERY]        also replace genres that are one of the ten
    beet genreclassify --undo [QUERY]    put back what an earlier run changed (items not retagged since)

Config (beets' YAML, `genreclassify:`): auto, force, keep_existing, count, separator, min_probability, unsure,
engine, models, threads. The decision for each item is codeFeature.tagging.library_tags.decide (the batch job's
rule); the classifier is codeFeature's GenreClassifier. The item's `genres` field gets the genre names; flexible
attributes keep the rest: `genreclassify_genre` (top genre), `genreclassify_probability`, `genreclassify_sure`,
`genreclassify_engine`, `genreclassify_model` (the models' digest) and, on an item it changed,
`genreclassify_previous` and `genreclassify_written` (JSON lists), which `--undo` reads. Each item is stored (and
its file written) with Ctrl-C held off, so the database has every item old or new.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from beets import ui
from beets.dbcore import types
from beets.library import Item, Library
from beets.plugins import BeetsPlugin

from codeFeature.engine.engines import ENGINES, help_text
from codeFeature.engine.prediction import Failure, Prediction
from codeFeature.errors import GenreClassifierError
from codeFeature.signals import signals_held, signals_stop
from codeFeature.tagging.library_tags import (
    FAILED,
    FILL,
    GROUPS,
    REPLACE,
    RESTORED,
    RETAGGED,
    Flags,
    PlannedTag,
    TagOptions,
    decide,
)

if TYPE_CHECKING:  # the classifier (TensorFlow, OpenVINO) loads when a command needs it, not with beets
    from codeFeature.engine.classifier import GenreClassifier

PREFIX = "genreclassify_"
PREVIOUS, WRITTEN = PREFIX + "previous", PREFIX + "written"
DEFAULTS = {"auto": False, "force": False, "keep_existing": False, "count": 1, "separator": "",
            "min_probability": 0.0, "unsure": False, "engine": None, "models": None, "threads": 2}
FLAGS = Flags(include_unsure="-u/--unsure", overwrite="-f/--force", overwrite_any=None,
              min_probability="--min-probability")


class GenreClassifyPlugin(BeetsPlugin):
    """The `genreclassify` subcommand and, with `auto: yes`, an import stage."""

    item_types = {PREFIX + "probability": types.Float(digits=2), PREFIX + "sure": types.BOOLEAN}

    def __init__(self) -> None:
        super().__init__()
        self.config.add(DEFAULTS)
        self._classifier: GenreClassifier | None = None
        if self.config["auto"].get(bool):
            self.import_stages = [self.imported]

    # beets hooks

    def commands(self) -> list[ui.Subcommand]:
        command = ui.Subcommand("genreclassify", help="tag genres from the audio (ten genres)")
        add = command.parser.add_option
        add("-p", "--pretend", action="store_true", help="show what would change, change nothing")
        add("-f", "--force", dest="force", action="store_true", default=None,
            help="replace genres that are one of the ten (hand-set genres are kept)")
        add("-F", "--no-force", dest="force", action="store_false", help="fill only items with no genre")
        add("-k", "--keep-existing", dest="keep_existing", action="store_true", default=None,
            help="with --force: keep genres not of the ten and add ours after them")
        add("-u", "--unsure", dest="unsure", action="store_true", default=None,
            help="tag items the classifier is not sure of too")
        add("-c", "--count", dest="count", type="int", help="how many genres to store (most likely first)")
        add("--min-probability", dest="min_probability", type="float",
            help="store only genres at least this likely")
        add("-e", "--engine", dest="engine", choices=ENGINES,
            help=f"{help_text()}. Default: the models' default (class_xls/engines.json)")
        add("-w", "--write", dest="write", action="store_true", default=None, help="write file tags")
        add("-W", "--nowrite", dest="write", action="store_false", help="do not write file tags")
        add("--undo", action="store_true", help="put back the genres an earlier run changed")
        command.func = self._command
        return [command]

    def imported(self, session: object, task: object) -> None:
        """Import stage (auto: yes): classify the new items; the importer writes their files as it is set to."""
        for planned in self.classify_items(task.imported_items(), self.options(), pretend=False, write=False):
            self._show(planned)

    # the command

    def _command(self, lib: Library, opts: object, args: list[str]) -> None:
        self.config.set_args({key: value for key, value in vars(opts).items() if value is not None})
        items = lib.items(args)
        write, pretend = ui.should_write(opts.write), bool(opts.pretend)
        if opts.undo:
            outcomes = self.undo_items(items, pretend, write)
        else:
            outcomes = self.classify_items(items, self.options(), pretend, write)
        counts: dict[str, int] = {}
        try:
            with signals_stop():
                for planned in outcomes:
                    self._show(planned)
                    counts[planned.action] = counts.get(planned.action, 0) + 1
        except KeyboardInterrupt:
            ui.print_("interrupted: every item is as it was or as shown above")
            raise
        ui.print_(", ".join(f"{GROUPS[action][not pretend]}: {n}" for action, n in counts.items()) or "no items")

    def options(self) -> TagOptions:
        """The tagging rules from the config (and command-line flags)."""
        count, probability = self.config["count"].get(int), self.config["min_probability"].as_number()
        if count < 1 or not 0 <= probability <= 1:
            raise ui.UserError("genreclassify: count must be 1 or more and min_probability between 0 and 1")
        return TagOptions(overwrite=self.config["force"].get(bool), include_unsure=self.config["unsure"].get(bool),
                          min_probability=float(probability), genres=count,
                          separator=self.config["separator"].as_str(),
                          keep_existing=self.config["keep_existing"].get(bool), flags=FLAGS)

    def classifier(self) -> GenreClassifier:
        """The classifier (models loaded on first use, once). Raises ui.UserError if the models cannot be read."""
        if self._classifier is None:
            from codeFeature.engine.classifier import GenreClassifier

            try:
                self._classifier = GenreClassifier(self.config["models"].get(), self.config["engine"].get())
            except (GenreClassifierError, ValueError) as exc:  # unreadable models, unknown engine
                raise ui.UserError(f"genreclassify: {exc}") from exc
        return self._classifier

    def classify_items(self, items: Iterable[Item], options: TagOptions, pretend: bool,
                       write: bool) -> Iterator[PlannedTag]:
        """Classify `items` (decoding the next ones while the models judge one) and tag each as `options` say;
        with `pretend`, only plan. A file that cannot be read or decoded is reported by path and skipped."""
        items = list(items)
        if not items:
            return
        classifier = self.classifier()
        by_path = {str(item_path(item)): item for item in items}
        digest = classifier.folder.digest(classifier.engine)
        for result in classifier.classify_many([item_path(item) for item in items],
                                               threads=self.config["threads"].get(int)):
            item = by_path[result.file]
            if isinstance(result, Failure):
                yield PlannedTag(result.file, FAILED, why=result.error)
                continue
            current = tuple(item.genres or ())
            planned = decide(result.confident, result.probabilities, current, options, result.file,
                             lambda names: joined(names, options.separator))
            changed = planned.action in (FILL, REPLACE) and not pretend
            if not pretend:
                with signals_held():  # the item is stored whole (and its file written) or not at all
                    record(item, result, classifier.engine, digest)
                    if changed:
                        if not ours(item, current):  # else PREVIOUS stays the owner's genres before our first run
                            item[PREVIOUS] = json.dumps(list(current))
                        item[WRITTEN], item.genres = json.dumps(list(planned.wanted)), list(planned.wanted)
                    store(item, write and changed)
            yield planned

    def undo_items(self, items: Iterable[Item], pretend: bool, write: bool) -> Iterator[PlannedTag]:
        """Put back the genres the items had before this plugin first changed them, where they still have the genres
        it last wrote (an item retagged since is left alone and reported)."""
        for item in items:
            if WRITTEN not in item:
                continue
            current, name = tuple(item.genres or ()), str(item_path(item))
            previous, written = json.loads(item[PREVIOUS]), json.loads(item[WRITTEN])
            if not ours(item, current):
                why = f"has {' · '.join(current) or 'no genre'}, not the {' · '.join(written)} written"
                yield PlannedTag(name, RETAGGED, current, tuple(previous), why=why)
                continue
            if not pretend:
                with signals_held():
                    item.genres = previous
                    del item[PREVIOUS], item[WRITTEN]
                    store(item, write)
            yield PlannedTag(name, RESTORED, current, tuple(previous))

    def _show(self, planned: PlannedTag) -> None:
        ui.print_(f"{planned.action}: {planned.line()}")


def item_path(item: Item) -> Path:
    """The item's file as a Path (beets keeps paths as bytes)."""
    return Path(os.fsdecode(item.path))


def ours(item: Item, current: tuple[str, ...]) -> bool:
    """Whether the item's genres `current` are still the ones an earlier run wrote."""
    return WRITTEN in item and json.loads(item[WRITTEN]) == list(current)


def joined(names: list[str], separator: str) -> tuple[str, ...]:
    """Genre names as the item's `genres` values: one each, or one value joined with `separator` if it is set."""
    return (separator.join(names),) if separator and len(names) > 1 else tuple(names)


def record(item: Item, prediction: Prediction, engine: str, digest: str) -> None:
    """Keep what the classifier said of `item` in its flexible attributes."""
    item[PREFIX + "genre"] = prediction.genre
    item[PREFIX + "probability"] = round(prediction.probabilities[prediction.genre], 4)
    item[PREFIX + "sure"] = prediction.confident
    item[PREFIX + "engine"] = engine
    item[PREFIX + "model"] = digest


def store(item: Item, write: bool) -> None:
    """Write the item's file tags (if `write`; a file that cannot be written is reported by beets) and store it."""
    if write:
        item.try_write()
    item.store()
