"""engine/engines.py: one table of engines, read everywhere. No other module compares engine names, and every surface
(CLI, batch job, HTTP API, page, beets plugin) offers exactly the table's engines, described from it."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from codeFeature.apps import api, batch, cli
from codeFeature.engine import engines
from codeFeature.engine.engines import ENGINES, TABLE

PROJECT = Path(__file__).resolve().parent.parent
NAMES = "|".join(re.escape(name) for name in ENGINES)
# a comparison with an engine name: `x == "cnn"`, `"musicnn" != x`, `x in ("cnn", ...)`
COMPARISON = re.compile(rf"""(==|!=)\s*["']({NAMES})["']|["']({NAMES})["']\s*(==|!=)"""
                        rf"""|\bin\s*[(\[{{]\s*["']({NAMES})["']""")


def test_no_module_compares_engine_names_outside_the_table() -> None:
    sources = [*PROJECT.glob("codeFeature/**/*.py"), PROJECT / "main.py", *PROJECT.glob("beetsplug/*.py"),
               *PROJECT.glob("benchmarks/*.py")]
    table = PROJECT / "codeFeature" / "engine" / "engines.py"
    found = [f"{path.relative_to(PROJECT)}:{n}: {line.strip()}" for path in sources if path != table
             for n, line in enumerate(path.read_text().splitlines(), start=1) if COMPARISON.search(line)]
    assert len(sources) > 40 and found == []


def test_the_pattern_finds_what_it_looks_for() -> None:
    for line in ('if engine == "cnn":', "if 'musicnn' != name:", 'x = engine in ("cnn", "musicnn")'):
        assert COMPARISON.search(line), line
    assert not COMPARISON.search('load_ear("musicnn")')


def test_every_engine_has_what_users_see_and_what_it_needs() -> None:
    assert ENGINES == tuple(e.name for e in TABLE) and len(set(ENGINES)) == len(ENGINES)
    for record in TABLE:
        assert record.label and record.description and record.song_rule
        assert record.input in (engines.MFCC, engines.LOG_MEL) and (record.head or record.files)
        assert engines.engine(record.name) is record
    with pytest.raises(ValueError, match=f"one of {', '.join(ENGINES)}"):
        engines.engine("ensemble")


@pytest.mark.parametrize("parser", [cli.build_parser(), batch.build_parser(), api.build_parser()],
                         ids=["cli", "batch", "api"])
def test_every_command_offers_the_table_and_describes_it(parser) -> None:
    option = next(a for a in parser._actions if "--engine" in a.option_strings)
    assert tuple(option.choices) == ENGINES
    assert all(f"{e.name} ({e.label}: {e.description})" in option.help for e in TABLE)


def test_the_beets_plugin_offers_the_table() -> None:
    from beetsplug.genreclassify import GenreClassifyPlugin

    command = GenreClassifyPlugin().commands()[0]
    option = command.parser.get_option("--engine")
    assert tuple(option.choices) == ENGINES and all(e.label in option.help for e in TABLE)
