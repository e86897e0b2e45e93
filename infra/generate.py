"""Regenerate what is committed but derived: ``./dev generate [sdl|docs|histories]``.

- ``schema/schema.graphql``: the GraphQL SDL;
- ``docs/lifecycles/<kind>.md``: each lifecycle's reference page with its diagram;
- ``docs/handbook-pages.json``: which public handbook page each line of the handbook
  copy the specs cite (``004:<line>``) comes from, read from that copy's page headers
  (``handbook``; the copy sits beside the checkout, in ``../shared/seeds``);
- ``tests/histories/*.json``: recorded workflow histories for the replay tests
  (run the scenarios of ``tests/replay/*_scenarios.py`` on the time-skipping server;
  ``histories <name prefix>`` records only the matching scenarios).

Tests fail when the first two are stale; the histories change only on purpose.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
from pathlib import Path

from schema import SDL_PATH, sdl
from workflows.engine.docs import HandbookPage, reference_page
from workflows.registry import SPECS

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "lifecycles"
HANDBOOK_INDEX = ROOT / "docs" / "handbook-pages.json"
SEEDS = ROOT.parent / "shared" / "seeds"
# A page of the handbook copy opens with its number and title ("  25. Contract rules");
# its public address is the first "Source: <url>" line in it, when it has one.
PAGE_TITLE = re.compile(r"^ {2,3}(?P<number>\d+)\. (?P<title>\S.*)$")
SOURCE = re.compile(r"Source: (?P<url>https://\S+)")


def handbook_pages() -> dict[str, list[HandbookPage]]:
    """The committed index: seed number -> its pages, in line order."""
    index = json.loads(HANDBOOK_INDEX.read_text())
    return {seed: [HandbookPage(**page) for page in pages] for seed, pages in index.items()}


def index_handbook() -> str:
    """The index from the handbook copy itself, for ``docs/handbook-pages.json``."""
    index = {}
    for path in sorted(SEEDS.glob("[0-9][0-9][0-9]_*.txt")):
        lines = path.read_text().split("\n")
        starts: list[tuple[int, str]] = []
        last_page = 0
        for number, line in enumerate(lines, 1):
            title = PAGE_TITLE.match(line)
            # Page numbers only grow; a numbered list inside a page starts again at 1.
            if title and int(title["number"]) > last_page:
                starts.append((number, title["title"].strip()))
                last_page = int(title["number"])
        pages = []
        for i, (start, name) in enumerate(starts):
            end = starts[i + 1][0] if i + 1 < len(starts) else len(lines) + 1
            url = next((m["url"] for line in lines[start : end - 1] if (m := SOURCE.search(line))), None)
            pages.append({"line": start, "title": name, "url": url})
        if pages:
            index[path.name[:3]] = pages
    return json.dumps(index, indent=1) + "\n"


def lifecycle_pages() -> dict[Path, str]:
    pages = handbook_pages()
    return {DOCS / f"{kind.replace('-', '_')}.md": reference_page(spec, pages) for kind, spec in SPECS.items()}


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
        print(f"wrote {path.relative_to(ROOT)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", nargs="*", help="sdl, docs, handbook, histories (default: sdl and docs)")
    parser.add_argument("--only", default="", help="with histories: record the scenarios named with this prefix")
    args = parser.parse_args()
    what = set(args.what or ("sdl", "docs"))
    unknown = what - {"sdl", "docs", "handbook", "histories"}
    if unknown:
        parser.error(f"unknown: {', '.join(sorted(unknown))}")
    if "handbook" in what:
        if not SEEDS.is_dir():
            parser.error(f"the handbook copy is not at {SEEDS}")
        write(HANDBOOK_INDEX, index_handbook())
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
