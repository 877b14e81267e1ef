"""``deephash serve COL``: the collection's search API and web page over HTTP (uvicorn).

Registered by :mod:`deephash.cli` (``add_serve_parser``). Starlette and uvicorn (the ``serve``
extra) are imported only when the command runs.
"""

from __future__ import annotations

import argparse
import ipaddress
import socket
import sys

__all__ = ["add_serve_parser"]


def _port(text: str) -> int:
    try:
        p = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port must be an integer from 0 to 65535, got {text!r}") from None
    if not 0 <= p <= 65535:
        raise argparse.ArgumentTypeError(f"port must be an integer from 0 to 65535, got {p}")
    return p


def _bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on (host, port); port 0 picks a free one."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, _type, proto, _name, addr = infos[0]
    # proto must say TCP: asyncio sets TCP_NODELAY only on sockets whose proto is IPPROTO_TCP,
    # and without it every keep-alive response waits ~40 ms (Nagle + delayed ACK).
    sock = socket.socket(family, socket.SOCK_STREAM, proto or socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(addr)
        sock.listen(2048)
        sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def cmd_serve(args) -> int:
    try:
        import uvicorn

        from .serving.app import create_app
    except ImportError as e:
        print(f"deephash serve: error: needs the serve extra (pip install 'deephash[serve]'): {e}", file=sys.stderr)
        return 2
    app = create_app(
        args.collection,
        default_k=args.k,
        max_k=args.max_k,
        max_upload_bytes=args.max_upload_bytes,
        read_only=args.read_only,
        threads=args.threads,
    )
    col = app.state.service.col
    try:
        sock = _bind(args.host, args.port)
    except OSError:
        col.close()
        raise
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(
        f"deephash serve: {col.path} ({col.kind}, {len(col)} items, {col.bits} bits) "
        f"at http://{shown}:{port}/ (Ctrl+C to stop)",
        flush=True,
    )
    if not _is_loopback(host):
        print(
            "deephash serve: warning: listening beyond this machine; anyone who can reach it can search"
            + ("" if args.read_only else " and add items (--read-only refuses adds)"),
            file=sys.stderr,
            flush=True,
        )
    config = uvicorn.Config(
        app, log_level=args.log_level, access_log=args.log_level == "debug", timeout_graceful_shutdown=5
    )
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
    return 0


def add_serve_parser(sub, positive) -> None:
    """Adds ``serve`` to the CLI's subparsers (``positive``: the CLI's positive-int type)."""
    p = sub.add_parser(
        "serve",
        help="serve a collection over HTTP: a JSON search API and a web page",
        description="Serves a collection (deephash collection build) over HTTP: POST /search, POST /items, "
        "GET /health, GET /items/{id}/thumbnail and a web page at /. Needs the serve extra.",
    )
    p.add_argument("collection", metavar="COL", help="the collection folder")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine)")
    p.add_argument("--port", type=_port, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument("-k", type=positive, default=10, help="results per search when a request gives none (10)")
    p.add_argument("--max-k", type=positive, default=1000, help="largest k a request may ask (1000)")
    p.add_argument(
        "--max-upload-bytes",
        type=positive,
        default=32 * 1024 * 1024,
        help="largest request body, uploads included (default 32 MiB; 413 beyond)",
    )
    p.add_argument("--threads", type=positive, default=None, help="query images/texts encoded at once (min(8, cores))")
    p.add_argument("--read-only", action="store_true", help="refuse POST /items (403)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    p.set_defaults(func=cmd_serve)
