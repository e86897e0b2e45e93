"""The operator's command line, ``lifecycles`` (see ``services/cli/app.py``)."""

from __future__ import annotations


def main() -> None:
    from services.cli.app import app

    app()
