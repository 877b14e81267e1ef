"""The HTTP API of ``deephash serve`` (Starlette's TestClient): every endpoint, every 4xx case,
results identical to the Python API, no request path reaching the file system."""

from __future__ import annotations

import io
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("PIL")
pytest.importorskip("starlette")
pytest.importorskip("httpx")  # Starlette's TestClient

from PIL import Image
from starlette.testclient import TestClient

from deephash import cli
from deephash.collection import Collection
from deephash.serving import create_app
from _serving import build_images

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    base = tmp_path_factory.mktemp("serving")
    src, col = build_images(base, per_class=6, damaged=True)
    col.close()
    return src, base / "col"


@pytest.fixture(scope="module")
def client(images):
    _src, path = images
    with TestClient(create_app(path, max_upload_bytes=200_000, max_k=50)) as c:
        yield c


@pytest.fixture()
def fresh(images, tmp_path):
    """A copy of the collection that a test may change, and its client."""
    src, path = images
    shutil.copytree(path, tmp_path / "col")
    with TestClient(create_app(tmp_path / "col")) as c:
        yield src, tmp_path / "col", c


def rows(hits):
    return [{"path": h.path, "distance": h.distance, "id": h.id, "label": h.label} for h in hits]


def test_health_and_self_contained_page(client):
    h = client.get("/health").json()
    assert h["status"] == "ok" and h["kind"] == "images" and h["bits"] == 32 and h["items"] == 18
    assert h["errors"] == 1 and h["query_kinds"] == ["image", "id", "code"] and h["max_k"] == 50
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    # nothing is fetched from elsewhere: no absolute or protocol-relative URL anywhere
    assert 'id="file"' in page.text and not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]", page.text, re.I)


def test_search_by_upload_matches_the_python_api(client, images):
    src, path = images
    col = Collection.open(path)
    for f in (src / "red" / "01.jpg", src / "blue" / "04.png", src / "green" / "05.jpg"):
        r = client.post("/search", files={"file": (f.name, f.read_bytes())}, data={"k": "7"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["results"] == rows(col.search(str(f), k=7))
        assert body["results"][0]["path"] == str(f) and body["results"][0]["distance"] == 0
        assert body["query_code"] == col.encode(str(f)).tobytes().hex()
    # k as a query parameter; the default k
    f = src / "red" / "02.png"
    r = client.post("/search?k=3", files={"file": f.read_bytes()})
    assert [x["id"] for x in r.json()["results"]] == [h.id for h in col.search(str(f), k=3)]
    assert len(client.post("/search", files={"file": f.read_bytes()}).json()["results"]) == 10
    col.close()


def test_search_by_id_and_code(client, images):
    _src, path = images
    col = Collection.open(path)
    hit = col.search(col.search(str(_src / "green" / "03.jpg"), k=1)[0].id, k=1)[0]
    r = client.post("/search", json={"id": hit.id, "k": 5})
    assert r.status_code == 200 and r.json()["results"] == rows(col.search(hit.id, k=5))
    code = col.encode(hit.id).tobytes().hex()
    r = client.post("/search?k=5", json={"code": code.upper()})
    assert r.json()["results"] == rows(col.search(hit.id, k=5)) and r.json()["query_code"] == code
    r = client.post("/search", data={"id": str(hit.id), "k": "2"})  # form fields work too
    assert [x["id"] for x in r.json()["results"]] == [h.id for h in col.search(hit.id, k=2)]
    assert len(client.post("/search", json={"id": hit.id, "k": 50}).json()["results"]) == 18  # all of them
    col.close()


BAD_SEARCHES = [
    # (request kwargs, status, part of the message)
    (dict(files={"file": ("x.jpg", b"this is not an image, just text")}), 400, "cannot be used"),
    (dict(files={"file": ("x.jpg", b"")}), 400, "empty"),
    (dict(files={"file": ("x.jpg", b"abcd")}), 400, "not an image"),  # as long as a code
    (dict(json={"id": 1, "k": 0}), 400, "k must be an integer from 1 to 50"),
    (dict(json={"id": 1, "k": 51}), 400, "from 1 to 50, got 51"),
    (dict(json={"id": 1, "k": "abc"}), 400, "k must be"),
    (dict(json={"id": 1, "k": 1.5}), 400, "k must be"),
    (dict(json={"id": 1, "k": True}), 400, "k must be"),
    (dict(json={"id": 1, "k": -3}), 400, "k must be"),
    (dict(url="/search?k=x", json={"id": 1}), 400, "k must be"),
    (dict(url="/search?k=2", json={"id": 1, "k": 2}), 400, "more than once"),
    (dict(data={"id": "1", "k": ["2", "3"]}), 400, "given 2 times"),
    (dict(json={"id": 123456}), 404, "no item with id 123456"),
    (dict(json={"id": -1}), 400, "non-negative integer"),
    (dict(json={"id": True}), 400, "non-negative integer"),
    (dict(json={"id": "seven"}), 400, "non-negative integer"),
    (dict(json={"code": "zz"}), 400, "hex string of 8 digits"),
    (dict(json={"code": "abcd"}), 400, "got 4 digits"),
    (dict(json={"code": 1234}), 400, "hex string"),
    (dict(json={"text": "a red square"}), 400, "holds images"),
    (dict(json={"id": 1, "code": "00000000"}), 400, "exactly one query"),
    (dict(json={}), 400, "code; got none"),
    (dict(json={"ids": 1}), 400, "unknown field 'ids'"),
    (dict(content=b"{not json", headers={"content-type": "application/json"}), 400, "not valid JSON"),
    (dict(json=[1, 2]), 400, "must be an object"),
    (dict(content=b"id=1", headers={"content-type": "text/plain"}), 415, "multipart/form-data"),
    (dict(content=b"x" * 200_001, headers={"content-type": "application/json"}), 413, "at most 200000"),
    (dict(content=iter([b"{" + b" " * 150_000, b" " * 150_000 + b"}"])), 413, "larger than 200000"),
    (dict(files={"file": ("big.png", b"\x89PNG" + b"\0" * 250_000)}), 413, "at most 200000"),
]


@pytest.mark.parametrize("kwargs, status, message", BAD_SEARCHES)
def test_bad_searches_get_4xx_with_a_message(client, kwargs, status, message):
    kwargs = dict(kwargs)
    url = kwargs.pop("url", "/search")
    r = client.post(url, **kwargs)
    assert r.status_code == status, r.text
    assert message in r.json()["error"]
    assert client.get("/health").json()["status"] == "ok"  # still serving


def test_unknown_routes_and_methods(client):
    assert client.get("/nope").status_code == 404 and client.get("/nope").json() == {"error": "Not Found"}
    assert client.get("/search").status_code == 405
    assert client.delete("/items/1").status_code == 405
    assert client.get("/items/abc/thumbnail").status_code == 404


def test_items_thumbnail_and_item(client, images):
    src, path = images
    col = Collection.open(path)
    hit = col.search(str(src / "blue" / "03.jpg"), k=1)[0]
    r = client.get(f"/items/{hit.id}")
    assert r.json() == {"id": hit.id, "path": hit.path, "label": "blue", "text": None, "origin": "source"}
    r = client.get(f"/items/{hit.id}/thumbnail?size=24")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert r.content == col.thumbnail(hit.id, 24)
    im = Image.open(io.BytesIO(r.content))
    assert im.format == "JPEG" and max(im.size) <= 24
    assert max(Image.open(io.BytesIO(client.get(f"/items/{hit.id}/thumbnail").content)).size) <= 256
    for size in ("8", "2000", "abc", "-1"):
        r = client.get(f"/items/{hit.id}/thumbnail?size={size}")
        assert r.status_code == 400 and "from 16 to 1024" in r.json()["error"]
    assert client.get("/items/98765/thumbnail").status_code == 404
    assert client.get("/items/98765").status_code == 404
    col.close()


def test_no_request_path_reaches_the_file_system(client):
    # Paths in the URL never name files: only ids route to thumbnails.
    for url in ("/items/..%2F..%2Fetc%2Fpasswd/thumbnail", "/items/%2Fetc%2Fpasswd/thumbnail", "/../etc/passwd"):
        assert client.get(url).status_code == 404
    # A file name as a query is not opened (image collections take images only).
    r = client.post("/search", json={"text": "/etc/passwd"})
    assert r.status_code == 400 and "holds images" in r.json()["error"]


def test_add_images_then_find_them(fresh):
    src, path, c = fresh
    new = io.BytesIO()
    Image.new("RGB", (40, 30), (250, 250, 0)).save(new, format="PNG")
    other = (src / "red" / "00.png").read_bytes()
    r = c.post("/items", files=[("file", ("y.png", new.getvalue())), ("file", ("r.png", other))], data={"label": "new"})
    assert r.status_code == 201, r.text
    ids = r.json()["ids"]
    assert len(ids) == 2 and r.json()["items"] == 20 and c.get("/health").json()["items"] == 20
    item = c.get(f"/items/{ids[0]}").json()
    assert item["label"] == "new" and item["origin"] == "added" and Path(item["path"]).parent == path / "uploads"
    hits = c.post("/search", files={"file": new.getvalue()}, data={"k": "1"}).json()["results"]
    assert hits[0]["id"] == ids[0] and hits[0]["distance"] == 0
    assert c.get(f"/items/{ids[0]}/thumbnail").status_code == 200
    # bad adds change nothing
    bad = [
        (dict(files=[("file", ("ok.png", new.getvalue())), ("file", ("x.jpg", b"no image"))]), 400, "cannot be used"),
        (dict(files=[("file", ("e.png", b""))]), 400, "empty"),
        (dict(data={"label": "x"}), 400, "no image"),
        (dict(json={"texts": ["a"]}), 400, "multipart/form-data fields named 'file'"),
        (dict(files=[("photo", ("y.png", new.getvalue()))]), 400, "unknown field 'photo'"),
        (dict(files=[("file", ("y.png", new.getvalue()))] * 2, data={"label": ["a", "b", "c"]}), 400, "one label"),
    ]
    for kwargs, status, message in bad:
        r = c.post("/items", **kwargs)
        assert r.status_code == status and message in r.json()["error"], r.text
    assert c.get("/health").json()["items"] == 20


def test_read_only_server_refuses_adds(images):
    _src, path = images
    with TestClient(create_app(path, read_only=True, preload=False)) as c:
        assert c.get("/health").json()["read_only"] is True
        r = c.post("/items", files={"file": ("a.png", b"123")})
        assert r.status_code == 403 and "read-only" in r.json()["error"]


def test_thumbnail_of_a_vanished_file_is_410_and_the_server_lives(fresh):
    src, path, c = fresh
    hit = c.post("/search", files={"file": (src / "green" / "01.jpg").read_bytes()}, data={"k": "1"}).json()
    victim = Path(hit["results"][0]["path"])
    moved = victim.with_suffix(".moved")
    victim.rename(moved)
    try:
        r = c.get(f"/items/{hit['results'][0]['id']}/thumbnail")
        assert r.status_code == 410 and "sync" in r.json()["error"]
    finally:
        moved.rename(victim)
    assert c.get("/health").status_code == 200


def test_create_app_checks_its_arguments(images, tmp_path):
    _src, path = images
    with pytest.raises(ValueError, match="max_k must be a positive int"):
        create_app(path, max_k=0)
    with pytest.raises(ValueError, match="must not exceed max_k"):
        create_app(path, default_k=20, max_k=10)
    with pytest.raises(ValueError, match="max_upload_bytes"):
        create_app(path, max_upload_bytes=-1)
    with pytest.raises(TypeError, match="a path or a deephash.Collection"):
        create_app(3)
    with pytest.raises(FileNotFoundError, match="not a deephash collection"):
        create_app(tmp_path)
    col = Collection.open(path)  # an open collection is served and left open
    with TestClient(create_app(col, preload=False)) as c:
        assert c.get("/health").json()["items"] == len(col)
    assert len(col) == 18
    col.close()


@pytest.fixture(scope="module")
def texts(tmp_path_factory):
    base = tmp_path_factory.mktemp("texts")
    f = base / "t.txt"
    lines = ["the cat sat on the mat", "a dog chased the cat", "stock markets fell today", "bank shares rose"]
    f.write_text("\n".join(lines) + "\n")
    col = Collection.build(f, base / "col", method="lsh", method_params={"backbone": "tfidf"}, bits=16, progress=False)
    col.close()
    return f, base / "col"


def test_text_collection(texts):
    f, path = texts
    col = Collection.open(path)
    with TestClient(create_app(path)) as c:
        h = c.get("/health").json()
        assert h["kind"] == "texts" and h["query_kinds"] == ["text", "id", "code"]
        r = c.post("/search", json={"text": "the cat sat on the mat", "k": 3})
        assert r.status_code == 200
        got = r.json()["results"]
        hits = col.search("the cat sat on the mat", k=3)
        assert got == [dict(x, text=h.text) for x, h in zip(rows(hits), hits)]
        assert got[0]["text"] == "the cat sat on the mat" and got[0]["path"] == f"{f}#1"
        # a text that names a file is searched as that text: the file is never opened
        r = c.post("/search", json={"text": str(f), "k": 2})
        assert r.json()["query_code"] == col.encoder().encode([str(f)]).tobytes().hex()
        for kwargs, status, message in [
            (dict(files={"file": ("a.png", b"\x89PNG....")}), 400, "holds texts"),
            (dict(json={"text": ""}), 400, "empty"),
            (dict(json={"text": 5}), 400, "must be a string"),
            (dict(json={"text": "x" * 10_001}), 400, "at most 10000"),
        ]:
            r = c.post("/search", **kwargs)
            assert r.status_code == status and message in r.json()["error"], r.text
        assert c.get(f"/items/{got[0]['id']}/thumbnail").status_code == 404
        assert c.get(f"/items/{got[0]['id']}").json()["text"] == "the cat sat on the mat"
        r = c.post("/items", json={"texts": ["markets rallied"], "labels": ["finance"]})
        assert r.status_code == 201 and r.json()["items"] == 5
        new = r.json()["ids"][0]
        assert c.get(f"/items/{new}").json()["label"] == "finance"
        hits = c.post("/search", json={"text": "markets rallied", "k": 5}).json()["results"]
        assert {"id": new, "distance": 0, "label": "finance"}.items() <= next(x for x in hits if x["id"] == new).items()
        # a text that names a file or folder is added as that text: nothing is looked up
        r = c.post("/items", json={"texts": [str(f), str(f.parent)]})
        assert r.status_code == 201 and r.json()["items"] == 7, r.text
        assert [c.get(f"/items/{i}").json()["text"] for i in r.json()["ids"]] == [str(f), str(f.parent)]
        for body, message in [
            ({"texts": []}, "at least one"),
            ({"texts": ["a"], "labels": []}, "one label per"),
            ({"texts": ["  "]}, "empty"),
            ({"texts": "a"}, "at least one"),
        ]:
            r = c.post("/items", json=body)
            assert r.status_code == 400 and message in r.json()["error"]
        assert c.post("/items", files={"file": ("a.png", b"123")}).status_code == 400
    col.close()


def test_serve_cli_errors(images, tmp_path, capsys):
    _src, path = images
    assert cli.main(["serve", str(tmp_path / "nothing")]) == 2
    assert "not a deephash collection" in capsys.readouterr().err
    assert cli.main(["serve", str(path), "--port", "70000"]) == 2
    assert "port must be an integer from 0 to 65535" in capsys.readouterr().err
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        assert cli.main(["serve", str(path), "--port", str(s.getsockname()[1])]) == 2
        assert "in use" in capsys.readouterr().err.lower()


def test_import_deephash_does_not_import_the_web_stack():
    code = (
        "import sys, deephash, deephash.cli, deephash.serving; "
        "bad = [m for m in ('starlette', 'uvicorn', 'fastapi', 'anyio') if m in sys.modules]; "
        "assert not bad, bad"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=ROOT / "tests")


def test_listening_socket_is_tcp_so_responses_are_not_delayed():
    # asyncio sets TCP_NODELAY only on sockets whose proto is IPPROTO_TCP; with proto 0 every
    # keep-alive response waited ~40 ms for a delayed ACK (Nagle).
    from deephash.cli_serve import _bind

    sock = _bind("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP and sock.getsockname()[0] == "127.0.0.1"
    finally:
        sock.close()
