"""What is committed but derived must match its source: the SDL and the lifecycle pages."""

from __future__ import annotations

import re

import pytest

from infra.generate import HANDBOOK_INDEX, SEEDS, handbook_pages, index_handbook, lifecycle_pages
from schema import SDL_PATH, sdl
from workflows.engine.docs import CITATION, Citations


def test_the_committed_sdl_matches_the_schema():
    assert SDL_PATH.read_text() == sdl(), "schema/schema.graphql is stale: run ./dev generate"


def test_the_lifecycle_pages_match_their_specs():
    for path, text in lifecycle_pages().items():
        assert path.exists(), f"{path} is missing: run ./dev generate"
        assert path.read_text() == text, f"{path} is stale: run ./dev generate"


def test_the_handbook_index_matches_the_handbook_copy():
    if not SEEDS.is_dir():
        pytest.skip(f"the handbook copy is not beside the checkout ({SEEDS})")
    assert HANDBOOK_INDEX.read_text() == index_handbook(), (
        "docs/handbook-pages.json is stale: run ./dev generate handbook"
    )


def test_every_cited_handbook_line_links_to_its_public_page():
    citations = Citations(handbook_pages())
    addressless = [p.line for pages in handbook_pages().values() for p in pages if p.url is None]
    for kind, page in lifecycle_pages().items():
        unlinked = re.sub(r"\[\d{3}:\d+(?:-\d+)?\]\(https://[^)]+\)", "", page.replace("`004:12875`", ""))
        for seed, line in CITATION.findall(unlinked):
            on = citations.page(seed, int(line))
            assert on is not None and on.line in addressless, f"{kind}: {seed}:{line} is not linked to its page"
    # A line is on the last page that starts at or before it.
    trials = citations.page("004", 12875)
    assert trials is not None and trials.title == "Trials" and trials.url.endswith("/trials")
    assert citations.page("004", 1) is not None and citations.page("999", 1) is None
