"""The README and the docs site hold together: every page reachable, every path named there present."""

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text(encoding="utf-8")
PAGES = sorted((REPO / "docs").glob("*.md"))
# Folders the tools write into (lowrank/record/paths.py): named in the docs, absent from a clean checkout.
OUTPUTS = ("results/runs", "results/report", "results/ab", "results/history", "results/export", "results/results.csv")


def test_the_readme_is_a_two_minute_read():
    assert len(README.splitlines()) <= 150


def test_every_docs_page_is_linked_from_the_readme_and_in_the_site_navigation():
    nav = (REPO / "mkdocs.yml").read_text(encoding="utf-8")
    for page in PAGES:
        assert f"(docs/{page.name})" in README, f"README.md links no docs/{page.name}"
        assert f": {page.name}" in nav, f"mkdocs.yml's nav lacks {page.name}"


@pytest.mark.parametrize("doc", [REPO / "README.md", *PAGES], ids=lambda p: p.name)
def test_every_path_the_docs_name_exists(doc):
    text = doc.read_text(encoding="utf-8")
    named = re.findall(r"`((?:lowrank|benchmarks|scripts|results|tests|docs)/[^`\s]*)`", text)
    missing = [p for p in named
               if not any(ch in p for ch in "<*{")  # patterns and placeholders
               and not p.startswith(OUTPUTS)  # the tools' outputs
               and not re.search(r"[A-Z]{3,}", p)  # RUN.json, NAME.json
               and not (REPO / p.split("#")[0]).exists()]
    assert not missing, f"{doc.name} names paths that do not exist: {missing}"


def test_the_quick_tour_of_the_library_page_is_the_readmes():
    tour = re.search(r"## Quick tour\n\n```python\n(.*?)```", README, re.S).group(1)
    assert tour in (REPO / "docs" / "library.md").read_text(encoding="utf-8")
