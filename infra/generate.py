"""Regenerate what is committed but derived: ``./dev generate [sdl|docs|histories]``.

- ``schema/schema.graphql``: the GraphQL SDL;
- ``docs/lifecycles/<kind>.md``: each lifecycle's reference page with its diagram;
- ``tests/histories/*.json``: recorded workflow histories for the replay tests
  (run the scenarios of ``tests/replay/*_scenarios.py`` on the time-skipping server;
  ``histories <name prefix>`` records only the matching scenarios).

Tests fail when the first two are stale; the histories change only on purpose.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from schema import SDL_PATH, sdl
from workflows.engine.docs import reference_page
from workflows.registry import SPECS

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "lifecycles"


def lifecycle_pages() -> dict[Path, str]:
    return {DOCS / f"{kind.replace('-', '_')}.md": reference_page(spec) for kind, spec in SPECS.items()}


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
        print(f"wrote {path.relative_to(ROOT)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", nargs="*", help="sdl, docs, histories (default: sdl and docs)")
    parser.add_argument("--only", default="", help="with histories: record the scenarios named with this prefix")
    args = parser.parse_args()
    what = set(args.what or ("sdl", "docs"))
    unknown = what - {"sdl", "docs", "histories"}
    if unknown:
        parser.error(f"unknown: {', '.join(sorted(unknown))}")
    if "sdl" in what:
        write(SDL_PATH, sdl())
    if "docs" in what:
        for path, text in lifecycle_pages().items():
            write(path, text)
    if "histories" in what:
        from tests.replay.record import record_all

        asyncio.run(record_all(args.only))


if __name__ == "__main__":
    main()
