"""What is committed but derived must match its source: the SDL and the lifecycle pages."""

from __future__ import annotations

from infra.generate import lifecycle_pages
from schema import SDL_PATH, sdl


def test_the_committed_sdl_matches_the_schema():
    assert SDL_PATH.read_text() == sdl(), "schema/schema.graphql is stale: run ./dev generate"


def test_the_lifecycle_pages_match_their_specs():
    for path, text in lifecycle_pages().items():
        assert path.exists(), f"{path} is missing: run ./dev generate"
        assert path.read_text() == text, f"{path} is stale: run ./dev generate"
