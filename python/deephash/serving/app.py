"""The HTTP service of a collection: a Starlette ASGI app that ``deephash serve`` runs on uvicorn.

Endpoints (every error is JSON ``{"error": message}`` with a 4xx status; see :func:`create_app`)::

    GET  /                          the web page (self-contained: loads nothing from elsewhere)
    GET  /health                    status, kind, bits, items, generation and the server's limits
    POST /search                    multipart field "file" (an image), or JSON {"text"|"id"|"code": ...};
                                    k as a query, form or JSON field
                                    -> {"results": [{path, distance, id, label}, ...], "query_code": hex}
    POST /items                     add: multipart "file" fields (images, optional "label"), or JSON
                                    {"texts": [...], "labels": [...]} for text collections -> 201 {"ids": [...]}
    GET  /items/{id}                one item: id, path, label, text, origin
    GET  /items/{id}/thumbnail      the item's image as a JPEG (?size=16..1024, default 256)

Design notes:

- No path from a request reaches the file system: a query text is encoded as a text (never
  opened as a file name, which ``Collection.search(str)`` would do), thumbnails are looked up
  by item id in the collection's own table, and uploads are decoded from memory.
- Encoding and searching run in worker threads, so the event loop keeps accepting and answering
  while the CPU works: at most ``threads`` query encodings (images, texts) at a time; searches by
  id or code, items and thumbnails in a larger pool of their own, so they never queue behind
  encodings; writes (``POST /items``) one at a time. The collection answers each search from one committed state (its
  index and item table of one generation), so searches that run while an add commits see the
  collection before or after it, never a mixture.
- Request bodies are counted as they arrive: a body over ``max_upload_bytes`` gets 413 without
  being read to the end (a ``Content-Length`` over the limit is refused before any byte is read).
"""

from __future__ import annotations

import json
import logging
import os
import re
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Optional, Union

import anyio
import numpy as np
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from ..collection import Collection, CollectionBusyError, DamagedItem

__all__ = ["ApiError", "create_app", "DEFAULT_MAX_UPLOAD_BYTES", "MAX_TEXT_CHARS"]

log = logging.getLogger("deephash.serving")

#: Largest request body accepted by default (bytes): a phone photo is 3-12 MB.
DEFAULT_MAX_UPLOAD_BYTES = 32 * 1024 * 1024
#: Longest query text (characters).
MAX_TEXT_CHARS = 10_000
_INT = re.compile(r"[+]?[0-9]{1,18}\Z")
_PAGE = Path(__file__).with_name("page.html")
_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    # The page is self-contained: scripts, styles and images from this server only (blob: for
    # the preview of the chosen file).
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' blob: data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'"
    ),
}


class ApiError(Exception):
    """An error answered to the client: HTTP ``status`` with JSON ``{"error": message}``."""

    def __init__(self, status: int, message: str, headers: Optional[dict] = None):
        super().__init__(message)
        self.status = int(status)
        self.message = str(message)
        self.headers = headers


def _error_response(status: int, message: str, headers: Optional[dict] = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


class _Service:
    """The state behind the routes: the open collection, limits, and the worker-thread slots."""

    def __init__(self, collection, default_k, max_k, max_upload_bytes, read_only, threads, thumbnail_size, preload):
        self.max_k = _positive_int(max_k, "max_k")
        self.default_k = _positive_int(default_k, "default_k")
        if self.default_k > self.max_k:
            raise ValueError(f"default_k ({self.default_k}) must not exceed max_k ({self.max_k})")
        self.max_upload_bytes = _positive_int(max_upload_bytes, "max_upload_bytes")
        self.threads = _positive_int(threads if threads is not None else min(8, os.cpu_count() or 1), "threads")
        self.thumbnail_size = _positive_int(thumbnail_size, "thumbnail_size")
        self.read_only = bool(read_only)
        self.preload = bool(preload)
        if isinstance(collection, Collection):
            self.col, self.owns = collection, False
        elif isinstance(collection, (str, os.PathLike)):
            self.col, self.owns = Collection.open(collection), True
        else:
            raise TypeError(f"collection must be a path or a deephash.Collection, got {type(collection).__name__}")
        self._slots = None

    # -- worker threads ---------------------------------------------------------------------
    async def run(self, fn, *args, slot: str = "lookup"):
        """Runs ``fn(*args)`` in a worker thread; maps the collection's errors to 4xx answers.

        ``slot``: "encode" (a query image or text through the model: at most ``threads`` at a
        time), "lookup" (a search by id or code, an item, a thumbnail: cheap, so they never
        queue behind encodings) or "write" (adds, one at a time).
        """
        if self._slots is None:  # anyio limiters are made inside the event loop
            self._slots = {
                "encode": anyio.CapacityLimiter(self.threads),
                "lookup": anyio.CapacityLimiter(4 * self.threads),
                "write": anyio.CapacityLimiter(1),
            }
        try:
            return await anyio.to_thread.run_sync(fn, *args, limiter=self._slots[slot])
        except ApiError:
            raise
        except KeyError as e:  # an unknown item id
            raise ApiError(404, str(e.args[0]) if e.args else "no such item") from None
        except DamagedItem as e:
            raise ApiError(410, f"the item's file can no longer be read ({e}); run `deephash collection sync`")
        except CollectionBusyError as e:
            raise ApiError(503, f"the collection is busy: {e}", {"Retry-After": "5"}) from None
        except (ValueError, TypeError) as e:
            raise ApiError(400, str(e)) from None

    # -- what the routes compute (in worker threads) ----------------------------------------
    @property
    def code_bytes(self) -> int:
        return self.col.bits // 8

    def answer(self, code: np.ndarray, k: int) -> dict:
        """The top k of a query code, with the code (hex) the results were computed for."""
        hits = self.col.search_code(code, k)
        texts = self.col.kind == "texts"
        out = []
        for h in hits:
            r = {"path": h.path, "distance": int(h.distance), "id": int(h.id), "label": h.label}
            if texts:
                r["text"] = h.text
            out.append(r)
        return {"results": out, "query_code": np.ascontiguousarray(code, dtype=np.uint8).tobytes().hex()}

    def search_image(self, data: bytes, k: int) -> dict:
        if self.col.kind != "images":
            raise ApiError(400, 'this collection holds texts; search it with JSON {"text": "..."}')
        if len(data) == 0:
            raise ApiError(400, "the uploaded file is empty")
        if len(data) == self.code_bytes:  # Collection.search would take these bytes for a code
            raise ApiError(400, f"the uploaded file is not an image ({len(data)} bytes)")
        return self.answer(self.col.encode(data), k)

    def search_text(self, text: str, k: int) -> dict:
        if self.col.kind != "texts":
            raise ApiError(400, "this collection holds images; search it with an image (multipart field 'file')")
        # Encoded as a text, never looked up as a file name.
        code = np.ascontiguousarray(self.col.encoder().encode([text]), dtype=np.uint8)
        return self.answer(code, k)

    def search_id(self, item_id: int, k: int) -> dict:
        return self.answer(self.col.encode(int(item_id)), k)

    def search_code(self, code: bytes, k: int) -> dict:
        return self.answer(np.frombuffer(code, dtype=np.uint8), k)

    def add(self, items, labels) -> dict:
        # Texts go through add_texts: a text from a request is never taken for a file name.
        texts = self.col.kind == "texts"
        ids = self.col.add_texts(items, labels=labels) if texts else self.col.add(items, labels=labels)
        return {"ids": ids, "items": len(self.col)}

    def item(self, item_id: int) -> dict:
        it = self.col.item(item_id)
        return {"id": it.id, "path": it.path, "label": it.label, "text": it.text, "origin": it.origin}

    def thumbnail(self, item_id: int, size: int) -> bytes:
        if self.col.kind != "images":
            raise ApiError(404, "a text collection has no thumbnails; GET /items/{id} gives the text")
        return self.col.thumbnail(item_id, size)

    def health(self) -> dict:
        col = self.col
        kind = col.kind
        return {
            "status": "ok",
            "collection": col.path.name,
            "kind": kind,
            "bits": col.bits,
            "items": len(col),
            "generation": col.generation,
            "errors": len(col.errors),
            "query_kinds": ["image" if kind == "images" else "text", "id", "code"],
            "read_only": self.read_only,
            "default_k": self.default_k,
            "max_k": self.max_k,
            "max_upload_bytes": self.max_upload_bytes,
        }

    def warm_up(self) -> None:
        """Loads the query encoder and runs it once now, so that the first search does not wait
        for the model to load or for the framework's first-call set-up."""
        try:
            if self.col.kind == "images":
                self.col.encode(np.full((64, 64, 3), 128, dtype=np.uint8))
            else:
                self.col.encoder().encode(["warm-up"])
        except ImportError as e:  # searching by id and code still works
            log.warning("queries by image or text are unavailable: %s", e)


# -- reading requests --------------------------------------------------------------------------
async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, counted as it arrives: 413 beyond ``limit`` bytes."""
    length = request.headers.get("content-length")
    if length is not None:
        if not _INT.match(length.strip()):
            raise ApiError(400, f"bad Content-Length header {length!r}")
        if int(length) > limit:
            raise ApiError(413, f"the request body has {int(length)} bytes; this server accepts at most {limit}")
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise ApiError(413, f"the request body is larger than {limit} bytes, the most this server accepts")
        chunks.append(chunk)
    return b"".join(chunks)


async def _parse(request: Request, limit: int):
    """(fields, files, is_form): the JSON object or the form of the request (a form's fields map
    to lists of values); files is a list of (field name, filename, bytes) for multipart uploads."""
    body = await _read_body(request, limit)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/json" or (not ctype and body[:1] == b"{"):
        try:
            fields = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ApiError(400, f"the body is not valid JSON: {e}") from None
        if not isinstance(fields, dict):
            raise ApiError(400, f"the JSON body must be an object, got {type(fields).__name__}")
        return fields, [], False
    if ctype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        sent = False

        async def replay():  # the body already read, handed to Starlette's form parser
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        form = await Request(request.scope, replay).form(max_part_size=limit, max_files=1000, max_fields=1000)
        fields, files = {}, []
        for name, value in form.multi_items():
            if isinstance(value, str):
                fields.setdefault(name, []).append(value)
            else:
                files.append((name, value.filename, await value.read()))
                await value.close()
        await form.close()
        return fields, files, True
    raise ApiError(
        415,
        f"unsupported Content-Type {ctype or '(none)'!r}: send multipart/form-data (an image in the field "
        "'file') or application/json",
    )


def _one(fields: dict, name: str, form: bool):
    """A field's value; a form field given twice is an error."""
    if name not in fields:
        return None
    v = fields[name]
    if form:
        if len(v) != 1:
            raise ApiError(400, f"the field {name!r} is given {len(v)} times; give it once")
        return v[0]
    return v


def _parse_k(svc: _Service, request: Request, fields: dict, form: bool) -> int:
    got = [v for v in (request.query_params.getlist("k") or []) if v is not None]
    body_k = _one(fields, "k", form)
    if len(got) > 1 or (got and body_k is not None):
        raise ApiError(400, "k is given more than once (query string and body); give it once")
    raw = got[0] if got else body_k
    if raw is None:
        return svc.default_k
    if isinstance(raw, str) and _INT.match(raw.strip()):
        k = int(raw.strip())
    elif isinstance(raw, int) and not isinstance(raw, bool):
        k = raw
    else:
        raise ApiError(400, f"k must be an integer from 1 to {svc.max_k}, got {raw!r}")
    if not 1 <= k <= svc.max_k:
        raise ApiError(400, f"k must be an integer from 1 to {svc.max_k}, got {k}")
    return k


def _parse_id(raw) -> int:
    if isinstance(raw, str) and _INT.match(raw.strip()):
        return int(raw.strip())
    if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
        return raw
    raise ApiError(400, f"id must be a non-negative integer (an item id), got {raw!r}")


def _parse_code(svc: _Service, raw) -> bytes:
    n = svc.code_bytes
    if not isinstance(raw, str):
        raise ApiError(400, f"code must be a hex string of {2 * n} digits ({n} bytes), got {type(raw).__name__}")
    s = raw.strip()
    try:
        code = bytes.fromhex(s)
    except ValueError:
        raise ApiError(400, f"code must be a hex string of {2 * n} digits ({n} bytes), got {raw[:80]!r}") from None
    if len(code) != n:
        raise ApiError(
            400,
            f"code must be a hex string of {2 * n} digits ({n} bytes) for this {svc.col.bits}-bit "
            f"collection, got {len(s)} digits",
        )
    return code


def _check_text(raw) -> str:
    if not isinstance(raw, str):
        raise ApiError(400, f"text must be a string, got {type(raw).__name__}")
    if not raw.strip():
        raise ApiError(400, "text is empty")
    if len(raw) > MAX_TEXT_CHARS:
        raise ApiError(400, f"text has {len(raw)} characters; at most {MAX_TEXT_CHARS} are accepted")
    return raw


_QUERY_FIELDS = ("file", "text", "id", "code")


# -- routes ---------------------------------------------------------------------------------
async def _search(request: Request) -> Response:
    svc: _Service = request.app.state.service
    fields, files, form = await _parse(request, svc.max_upload_bytes)
    unknown = sorted(set(fields) - {"text", "id", "code", "k"}) + sorted({n for n, _, _ in files} - {"file"})
    if unknown:
        raise ApiError(400, f"unknown field {unknown[0]!r}; give one of {', '.join(_QUERY_FIELDS)} (and k)")
    given = [n for n in _QUERY_FIELDS if n in fields] + (["file"] * len(files))
    if len(given) != 1:
        what = "none" if not given else ", ".join(given)
        raise ApiError(
            400, f"give exactly one query: an image in the multipart field 'file', or text, id or code; got {what}"
        )
    k = _parse_k(svc, request, fields, form)
    if files:
        result = await svc.run(svc.search_image, files[0][2], k, slot="encode")
    elif "text" in fields:
        result = await svc.run(svc.search_text, _check_text(_one(fields, "text", form)), k, slot="encode")
    elif "id" in fields:
        result = await svc.run(svc.search_id, _parse_id(_one(fields, "id", form)), k)
    else:
        result = await svc.run(svc.search_code, _parse_code(svc, _one(fields, "code", form)), k)
    return JSONResponse(result)


async def _add(request: Request) -> Response:
    svc: _Service = request.app.state.service
    if svc.read_only:
        raise ApiError(403, "this server is read-only (deephash serve --read-only)")
    fields, files, form = await _parse(request, svc.max_upload_bytes)
    images = svc.col.kind == "images"
    if files or images:
        if not images:
            raise ApiError(400, 'this collection holds texts; add them with JSON {"texts": [...]}')
        if not form:
            raise ApiError(400, "this collection holds images; send them as multipart/form-data fields named 'file'")
        unknown = sorted(set(fields) - {"label"}) + sorted({n for n, _, _ in files} - {"file"})
        if unknown:
            raise ApiError(400, f"unknown field {unknown[0]!r}; send images in 'file' fields (and 'label')")
        if not files:
            raise ApiError(400, "no image: send the images as multipart fields named 'file'")
        items = [data for _n, _f, data in files]
        if any(not data for data in items):
            raise ApiError(400, "an uploaded file is empty")
        labels = fields.get("label") if form else None
        if labels is not None and len(labels) == 1:
            labels = labels * len(items)
        elif labels is not None and len(labels) != len(items):
            raise ApiError(400, f"give one label for all files or one per file: {len(labels)} for {len(items)}")
    else:
        if form:
            raise ApiError(400, 'add texts with JSON {"texts": [...], "labels": [...]}')
        unknown = sorted(set(fields) - {"texts", "labels"})
        if unknown:
            raise ApiError(400, f'unknown field {unknown[0]!r}; send JSON {{"texts": [...], "labels": [...]}}')
        items = fields.get("texts")
        if not isinstance(items, list) or not items:
            raise ApiError(400, 'send JSON {"texts": ["...", ...]} with at least one text')
        items = [_check_text(t) for t in items]
        labels = fields.get("labels")
        if labels is not None and (not isinstance(labels, list) or len(labels) != len(items)):
            raise ApiError(400, "labels must be a list with one label per text")
    result = await svc.run(svc.add, items, labels, slot="write")
    return JSONResponse(result, status_code=201)


async def _item(request: Request) -> Response:
    svc: _Service = request.app.state.service
    return JSONResponse(await svc.run(svc.item, request.path_params["item_id"]))


async def _thumbnail(request: Request) -> Response:
    svc: _Service = request.app.state.service
    raw = request.query_params.get("size", str(svc.thumbnail_size))
    if not _INT.match(raw.strip()) or not 16 <= int(raw) <= 1024:
        raise ApiError(400, f"size must be an integer from 16 to 1024 (pixels), got {raw!r}")
    jpeg = await svc.run(svc.thumbnail, request.path_params["item_id"], int(raw))
    # An id names one content for its whole life (a changed file gets a new id).
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})


async def _health(request: Request) -> Response:
    svc: _Service = request.app.state.service
    return JSONResponse(await anyio.to_thread.run_sync(svc.health))


async def _page(request: Request) -> Response:
    return HTMLResponse(request.app.state.page, headers=_SECURITY_HEADERS)


async def _api_error(request: Request, exc: ApiError) -> Response:
    return _error_response(exc.status, exc.message, exc.headers)


async def _http_error(request: Request, exc: HTTPException) -> Response:
    return _error_response(exc.status_code, str(exc.detail), getattr(exc, "headers", None))


async def _internal_error(request: Request, exc: Exception) -> Response:
    log.exception("internal error on %s %s", request.method, request.url.path)
    return _error_response(500, f"internal error: {type(exc).__name__}: {exc}")


def create_app(
    collection: Union[str, os.PathLike, Collection],
    *,
    default_k: int = 10,
    max_k: int = 1000,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    read_only: bool = False,
    threads: Optional[int] = None,
    thumbnail_size: int = 256,
    preload: bool = True,
) -> Starlette:
    """The ASGI app serving one collection (run it with uvicorn, or ``deephash serve COL``).

    Parameters
    ----------
    collection : str, os.PathLike or deephash.Collection
        The collection folder (opened here, closed at shutdown) or an open collection (left open).
    default_k : int
        Results per search when the request gives no ``k``.
    max_k : int
        The largest ``k`` accepted (400 beyond).
    max_upload_bytes : int
        The largest request body accepted (413 beyond), uploads included.
    read_only : bool
        Refuse ``POST /items`` (403).
    threads : int, optional
        Query images or texts encoded at the same time (worker threads; default
        ``min(8, cpu_count)``); searches by id or code get ``4 * threads`` threads of their own.
    thumbnail_size : int
        Default edge of ``GET /items/{id}/thumbnail`` in pixels.
    preload : bool
        Load the query encoder at start-up (else on the first image or text query).

    Returns
    -------
    starlette.applications.Starlette
        With ``app.state.service.col`` the open :class:`deephash.Collection`.

    Notes
    -----
    ``POST /search`` takes one query: an image file in the multipart field ``file``, or a JSON
    object ``{"text": str}`` (text collections), ``{"id": int}`` (an item's own code) or
    ``{"code": hex}`` (``bits // 8`` bytes as hex, the packed layout of
    :func:`deephash.pack_bits`); ``k`` comes as a query parameter (``/search?k=5``), a form field
    or a JSON member. The answer is ``{"results": [{"path", "distance", "id", "label"}, ...]}``
    sorted by (distance, id), with ``"text"`` too for text collections, and ``"query_code"``:
    the hex code of the query the results were computed for (search by it again with
    ``{"code": ...}``). Errors are JSON
    ``{"error": message}``: 400 (bad field, k, id, hex code, text, or an upload that is not an
    image), 403 (read-only), 404 (unknown item or route), 410 (an item's file changed on disk),
    413 (body too large), 415 (neither multipart nor JSON), 503 (another writer holds the
    collection).
    """
    svc = _Service(collection, default_k, max_k, max_upload_bytes, read_only, threads, thumbnail_size, preload)

    @asynccontextmanager
    async def lifespan(app):
        if svc.preload:
            await anyio.to_thread.run_sync(svc.warm_up)
        try:
            yield
        finally:
            if svc.owns:
                svc.col.close()

    routes = [
        Route("/", _page, methods=["GET"]),
        Route("/health", _health, methods=["GET"]),
        Route("/search", _search, methods=["POST"]),
        Route("/items", _add, methods=["POST"]),
        Route("/items/{item_id:int}", _item, methods=["GET"]),
        Route("/items/{item_id:int}/thumbnail", _thumbnail, methods=["GET"]),
    ]
    handlers = {ApiError: _api_error, HTTPException: _http_error, Exception: _internal_error}
    app = Starlette(routes=routes, exception_handlers=handlers, lifespan=lifespan)
    app.state.service = svc
    app.state.page = _PAGE.read_text(encoding="utf-8")
    return app
