"""Serving a collection over HTTP: a JSON search API and a web page (``deephash serve``).

``create_app(collection_path, ...)`` (:mod:`deephash.serving.app`) returns a Starlette ASGI
app; ``deephash serve COL`` runs it on uvicorn. Needs the ``serve`` extra
(``pip install 'deephash[serve]'``); this package imports Starlette only when ``create_app``
is first used, so ``deephash.serving.command`` (the CLI's ``serve`` subcommand) loads without it.
"""

from __future__ import annotations

__all__ = ["create_app"]


def __getattr__(name):
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
