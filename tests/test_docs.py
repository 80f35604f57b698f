"""README.md and docs/: short README with the two commands, every link resolving, docs/accuracy.md exactly what the
report writes from the shipped metrics, and every documented option table equal to its command's parser."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from codeFeature.apps import api, batch, cli, report
from codeFeature.config import MODEL_DIR
from codeFeature.engine.card import read_card
from codeFeature.training import train

PROJECT = Path(__file__).resolve().parent.parent
DOCS = PROJECT / "docs"
README = (PROJECT / "README.md").read_text()
TWO_COMMANDS = ("pip install -r requirements.txt && python -m streamlit run main.py",
                "pip install -r requirements-dev.txt && python -m pytest")


def test_the_readme_is_short_and_keeps_the_two_commands() -> None:
    assert len(README.splitlines()) <= 200
    for command in TWO_COMMANDS:
        assert f"```\n{command}\n```" in README
    ci = (PROJECT / ".ci" / "run").read_text()
    assert TWO_COMMANDS[1] in ci  # CI runs the README's test command


def test_every_relative_link_resolves() -> None:
    for page in [PROJECT / "README.md", *DOCS.glob("*.md")]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" not in target:
                assert (page.parent / target).exists(), f"{page.name}: {target}"


def test_accuracy_page_is_what_the_report_writes(tmp_path: Path) -> None:
    assert (DOCS / "accuracy.md").read_text() == report.render(read_card(MODEL_DIR))
    assert report.main(["--out", str(tmp_path / "accuracy.md")]) == 0
    assert (tmp_path / "accuracy.md").read_text() == (DOCS / "accuracy.md").read_text()


def test_the_readme_table_is_the_reports() -> None:
    assert report.readme_table(read_card(MODEL_DIR)) in README


def test_the_accuracy_page_explains_every_term_it_uses() -> None:
    page = (DOCS / "accuracy.md").read_text()
    glossary = page[page.index("## Glossary"):]
    for term in ("top-1", "top-3", "macro recall", "held out by artist", "left out whole", "without doubt",
                 "confident", "none of the ten", "loud", "design", "multiply-adds per song", "artist-filtered"):
        assert term in glossary, term


def _documented(page: str) -> set[str]:
    """The option strings in the first column of a docs page's "## Options" table."""
    text = (DOCS / page).read_text()
    section = text[text.index("## Options"):]
    section = section[:section.find("\n## ", 1)] if "\n## " in section[1:] else section
    rows = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]
    return {option for cell in rows for code in re.findall(r"`([^`]+)`", cell)
            for option in re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", code)}


def _argparse_options(parser) -> set[str]:
    return {option for action in parser._actions for option in action.option_strings} - {"-h", "--help"}


@pytest.mark.parametrize("page,parser", [("cli.md", cli.build_parser()), ("http-api.md", api.build_parser()),
                                         ("batch.md", batch.build_parser()), ("training.md", train.build_parser())])
def test_documented_options_are_the_commands_options(page: str, parser) -> None:
    assert _documented(page) == _argparse_options(parser)


def test_the_beets_page_documents_the_plugins_options_and_config() -> None:
    from beetsplug.genreclassify import DEFAULTS, GenreClassifyPlugin

    command = GenreClassifyPlugin().commands()[0]
    options = {o for option in command.parser.option_list for o in option._short_opts + option._long_opts}
    assert _documented("beets.md") == options - {"-h", "--help"}
    text = (DOCS / "beets.md").read_text()
    config = text[text.index("genreclassify:\n"):]
    config = config[:config.index("```")]
    assert re.findall(r"^  (\w+):", config, flags=re.M) == list(DEFAULTS)


def test_one_engine_list_everywhere() -> None:
    retired = re.compile(r"\bensemble\b|musicnn-student|\bstudent\b", re.IGNORECASE)
    for page in [PROJECT / "README.md", *DOCS.glob("*.md")]:
        lines = [line for line in page.read_text().splitlines() if retired.search(line)]
        if page.name == "training.md":  # its history says what the retired engines measured
            section = page.read_text().split("## Engines that did not earn their place")[1]
            assert all(line in section for line in lines)
        else:
            assert lines == [], page.name
