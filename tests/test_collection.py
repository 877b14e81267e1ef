"""deephash.Collection: build from every source kind, search by every query kind, sync, add,
remove, damaged files, crash-resume (kill -9) and readers in other processes."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("PIL")

from PIL import Image

import deephash
from deephash.collection import Collection, Hit
from _collection_data import COLOURS, image, make_folder

ROOT = Path(__file__).resolve().parents[1]
FAST = dict(bits=16, image_size=32, progress=False)  # tiny network input: seconds, not minutes


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    base = tmp_path_factory.mktemp("col")
    src = make_folder(base / "photos")
    col = Collection.build(src, base / "col", **FAST)
    yield src, col
    col.close()


def test_build_layout_manifest_and_errors(built):
    src, col = built
    assert len(col) == 3 * 8 and col.kind == "images" and col.bits == 16
    names = {p.name for p in col.path.iterdir()}
    assert {"manifest.json", "items.sqlite", "model.npz", "index-1.dhx"} <= names
    assert "build.json" not in names and "fit" not in names
    m = json.loads((col.path / "manifest.json").read_text())
    assert m["format"] == "deephash-collection" and m["count"] == 24 and m["generation"] == 1
    assert m["model"]["type"] == "default" and m["model"]["features"]["name"] == "efficientnet_lite0"
    broken = str(src / "red" / "broken.jpg")
    assert list(col.errors) == [broken] and "damaged image" in col.errors[broken]
    assert deephash.load(col.path / "index-1.dhx").bits == 16  # the index in the engine's format


def test_search_by_every_query_kind(built):
    src, col = built
    f = src / "green" / "03.jpg"
    hits = col.search(str(f), k=5)
    assert len(hits) == 5 and all(isinstance(h, Hit) for h in hits)
    assert [h.distance for h in hits] == sorted(h.distance for h in hits)
    me = [h for h in hits if h.path == str(f)]
    assert me and me[0].distance == 0 and me[0].label == "green" and os.path.isabs(me[0].path)
    item_id = me[0].id
    assert col.item(item_id).path == str(f)
    by_id = col.search(item_id, k=5)
    assert by_id[0].distance == 0 and {h.id for h in by_id if h.distance == 0} >= {item_id}
    code = col.encode(item_id)
    assert code.shape == (1, 2) and code.dtype == np.uint8
    with Image.open(f) as im:
        pil = im.convert("RGB")
    for q in (f, f.read_bytes(), pil, np.asarray(pil), code[0], code.tobytes()):
        got = col.search(q, k=5)
        assert [(h.id, h.distance) for h in got] == [(h.id, h.distance) for h in by_id], type(q)
    # mostly the query's own colour among the nearest
    assert sum(h.label == "green" for h in col.search(str(f), k=6)) >= 4
    assert len(col.search(item_id, k=1000)) == len(col)


def test_bad_queries_say_what_was_expected(built):
    _src, col = built
    with pytest.raises(ValueError, match="not an existing file.*holds images"):
        col.search("a red square")
    with pytest.raises(TypeError, match="uint8"):
        col.search(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(KeyError, match="no item with id 123456"):
        col.search(123456)
    with pytest.raises(TypeError, match="bool"):
        col.search(True)
    with pytest.raises(ValueError, match="k"):
        col.search(1, k=0)
    with pytest.raises(ValueError, match="cannot be used"):
        col.search(b"garbage bytes that are no image")
    with pytest.raises(ValueError, match="code query must have 2 bytes"):
        col.search(np.zeros(3, np.uint8))


def test_item_image_and_thumbnail(built):
    src, col = built
    hit = col.search(str(src / "blue" / "02.png"), k=1)[0]
    im = col.image(hit.id, max_size=16)
    assert im.mode == "RGB" and max(im.size) <= 16
    jpeg = col.thumbnail(hit.id, 24)
    assert jpeg[:3] == b"\xff\xd8\xff" and max(Image.open(io.BytesIO(jpeg)).size) <= 24
    assert col.info()["items"] == len(col)
    with pytest.raises(ValueError, match="holds images; add_texts needs a text collection"):
        col.add_texts(["a caption"])
    with pytest.raises(ValueError, match="holds images; search_text"):
        col.search_text("a caption")


def test_sync_add_remove(tmp_path):
    src = make_folder(tmp_path / "src", per_class=4, damaged=False)
    col = Collection.build(src, tmp_path / "col", **FAST)
    assert len(col) == 12 and col.generation == 1
    # nothing changed: nothing encoded, no new generation
    r = col.sync(progress=False)
    assert (r.added, r.updated, r.removed, r.unchanged, r.encoded) == (0, 0, 0, 12, 0) and col.generation == 1
    # replace one file in a class folder, add one, delete one, corrupt one
    changed = src / "red" / "01.jpg"
    old_id = col.search(str(changed), k=1)[0].id
    Image.fromarray(image(COLOURS["blue"], 999, (40, 40))).save(changed)
    os.utime(changed, ns=(1, 1))  # a different mtime even on coarse clocks
    Image.fromarray(image(COLOURS["green"], 1000)).save(src / "green" / "new.png")
    (src / "blue" / "00.png").unlink()
    (src / "blue" / "03.jpg").write_bytes(b"\xff\xd8\xff truncated")
    (src / "blue" / "new-broken.jpg").write_bytes(b"\xff\xd8\xff damaged from the start")
    r = col.sync(progress=False)
    # counts are of the index: the damaged new file is only "damaged"; the file whose new
    # content is damaged took its old version out ("removed"); len() moves by added - removed
    assert (r.added, r.updated, r.removed, r.unchanged, r.damaged) == (1, 1, 2, 9, 2), r
    assert r.encoded == 2  # the replaced file and the new one; the damaged ones are reported
    assert col.generation == 2 and len(col) == 12 + r.added - r.removed == 11
    assert {str(src / "blue" / "03.jpg"), str(src / "blue" / "new-broken.jpg")} == set(col.errors)
    with pytest.raises(KeyError):
        col.item(old_id)
    hit = col.search(str(changed), k=1)[0]
    assert hit.path == str(changed) and hit.distance == 0 and hit.id != old_id
    assert all(h.path != str(src / "blue" / "00.png") for h in col.search_code(bytes(2), k=100))
    # a touched file with the same content reuses its code (no encoding)
    os.utime(src / "green" / "new.png", ns=(2, 2))
    r = col.sync(progress=False)
    assert (r.updated, r.encoded) == (1, 0)
    # add: a path outside the source, upload bytes, a PIL image
    outside = tmp_path / "elsewhere.png"
    Image.fromarray(image(COLOURS["red"], 5)).save(outside)
    buf = io.BytesIO()
    Image.fromarray(image(COLOURS["green"], 6)).save(buf, format="JPEG")
    ids = col.add([outside, buf.getvalue(), Image.fromarray(image(COLOURS["blue"], 7))], labels=["red", "g", None])
    assert all(isinstance(i, int) for i in ids) and len(col) == 14
    assert col.item(ids[1]).path.startswith(str(col.path / "uploads")) and col.item(ids[1]).label == "g"
    assert any(h.id == ids[2] and h.distance == 0 for h in col.search(ids[2], k=len(col)))
    with pytest.raises(ValueError, match="uploaded image"):
        col.add(b"not an image at all, really")
    # the outside file survives sync; removing a source file keeps it out
    r = col.sync(progress=False)
    assert r.removed == 0 and len(col) == 14
    assert col.remove([str(src / "red" / "00.png"), ids[0]]) == 2 and len(col) == 12
    assert col.sync(progress=False).added == 0 and len(col) == 12
    outside.unlink()
    col.close()


def test_other_sources_tar_list_and_model_file(tmp_path, capfd):
    src = make_folder(tmp_path / "src", per_class=3, damaged=False)
    tar = tmp_path / "photos.tar"
    with tarfile.open(tar, "w") as tf:
        tf.add(src, arcname="photos")
    col = Collection.build(tar, tmp_path / "tcol", **FAST)
    assert len(col) == 9
    hit = col.search(str(src / "red" / "01.jpg"), k=1)[0]
    assert hit.path.startswith(f"{tar}#photos/") and hit.label in COLOURS and hit.distance == 0
    with Image.open(src / "red" / "01.jpg") as im:
        assert col.image(hit.id).size == im.size
    # a list of paths, encoded with the first collection's model (no fitting): same codes
    files = sorted(str(p) for p in (src / "blue").iterdir())
    col2 = Collection.build(files, tmp_path / "lcol", model=col.path, progress=False)
    assert len(col2) == 3 and col2.manifest["model"] == col.manifest["model"]
    assert col2.encode(files[0]).tobytes() == col.encode(files[0]).tobytes()
    assert col2.search(files[0], k=1)[0].path == files[0]
    # method=: a registered method trained on the collection (LSH on frozen features)
    capfd.readouterr()
    col3 = Collection.build(src, tmp_path / "mcol", method="lsh", **FAST)
    assert "LSH features" not in capfd.readouterr().err  # progress=False silences the method's bars too
    assert col3.manifest["model"]["type"] == "method" and col3.manifest["model"]["method"] == "LSH"
    assert col3.search(str(src / "red" / "01.jpg"), k=1)[0].distance == 0
    with pytest.raises(FileExistsError, match="already holds a collection"):
        Collection.build(files, tmp_path / "lcol", progress=False)
    with pytest.raises(ValueError, match="not both"):
        Collection.build(files, tmp_path / "x", model="m.npz", method="itq")


def test_text_collection(tmp_path):
    texts = ["the cat sat on the mat", "a dog chased the cat", "stock markets fell today", "", "bank shares rose"]
    f = tmp_path / "texts.txt"
    f.write_text("\n".join(texts) + "\n")
    col = Collection.build(f, tmp_path / "col", bits=16, progress=False)
    assert col.kind == "texts" and len(col) == 4
    hits = col.search("the cat sat on the mat", k=4)
    assert hits[0].text == "the cat sat on the mat" and hits[0].path == f"{f}#1" and hits[0].distance == 0
    with pytest.raises(ValueError, match="holds texts"):
        col.search(Image.new("RGB", (8, 8)))
    ids = col.add(["markets rallied"])
    assert col.item(ids[0]).text == "markets rallied" and len(col) == 5
    col.close()
    col = Collection.open(tmp_path / "col")
    # add_texts: every str is a text, even one naming an existing file or folder
    ids = col.add_texts([str(f), str(tmp_path), "bank shares rose"], labels=["a", None, 3])
    assert [col.item(i).text for i in ids] == [str(f), str(tmp_path), "bank shares rose"] and len(col) == 8
    assert [col.item(i).label for i in ids] == ["a", None, "3"] and col.item(ids[0]).origin == "added"
    assert col.search_text(str(f), k=1)[0].id == ids[0]  # search_text never opens the file either
    assert col.add_texts(["bank shares rose"], labels=["3"]) == [ids[2]] and len(col) == 8  # already there
    assert col.add(str(f), labels=["a"]) == [ids[0]]  # add in a text collection is add_texts
    gen = col.generation
    with pytest.raises(TypeError, match=r"pass \[text\]"):
        col.add_texts("one text")
    with pytest.raises(TypeError, match="must be str, got .*bytes.* at position 1"):
        col.add_texts(["ok", b"bytes"])
    with pytest.raises(ValueError, match="position 0 is blank"):
        col.add_texts(["  "])
    with pytest.raises(ValueError, match="one label per text: 1 labels for 2"):
        col.add_texts(["a", "b"], labels=["x"])
    with pytest.raises(TypeError, match="text must be a str"):
        col.search_text(5)
    assert col.generation == gen and len(col) == 8  # refused calls change nothing
    col.close()
    jl = tmp_path / "t.jsonl"
    jl.write_text("\n".join(json.dumps({"body": t, "topic": i % 2}) for i, t in enumerate(texts[:3])))
    col2 = Collection.build(jl, tmp_path / "col2", bits=16, text_column="body", label_column="topic", progress=False)
    assert {h.label for h in col2.search("cat", k=3)} == {"0", "1"}


_CHILD = """
import sys, time
from deephash.collection import Collection
def slow(done, total):
    time.sleep(0.3)
Collection.build(sys.argv[1], sys.argv[2], bits=16, image_size=32, batch_size=2, fit_size=4, progress=False,
                 callback=slow)
"""


def _env():
    # Children import the deephash under test: the installed package in CI, the source tree
    # with PYTHONPATH=python (which holds the compiled core only after tools/dev_build.sh).
    env = dict(os.environ)
    here = str(Path(deephash.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([here, env.get("PYTHONPATH", "")])
    return env


def test_resume_after_kill_9_encodes_nothing_twice(tmp_path):
    import sqlite3

    src = make_folder(tmp_path / "src", per_class=6, damaged=False)
    out = tmp_path / "col"
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(src), str(out)], env=_env())
    db = out / "items.sqlite"
    committed = 0
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and child.poll() is None:
        if db.exists():
            try:
                with sqlite3.connect(db, timeout=5) as c:
                    committed = c.execute("SELECT COUNT(*) FROM items WHERE code IS NOT NULL").fetchone()[0]
            except sqlite3.Error:
                pass
            if committed >= 4:
                break
        time.sleep(0.05)
    assert child.poll() is None, "the build finished before it could be killed"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert not (out / "manifest.json").exists()
    with pytest.raises(ValueError, match="did not finish"):
        Collection.open(out)
    with sqlite3.connect(db) as c:
        committed = c.execute("SELECT COUNT(*) FROM items WHERE code IS NOT NULL").fetchone()[0]
    assert 4 <= committed < 18
    seen = []
    opts = dict(bits=16, image_size=32, batch_size=2, fit_size=4, progress=False)
    col = Collection.build(src, out, callback=lambda d, t: seen.append(t), **opts)
    assert seen and seen[0] == 18 - committed  # only the items not committed before the kill
    assert len(col) == 18
    fresh = Collection.build(src, tmp_path / "fresh", **opts)
    for p in sorted((src / "red").iterdir()):
        assert col.encode(str(p)).tobytes() == fresh.encode(str(p)).tobytes()
        assert col.search(str(p), k=1)[0].distance == 0


_READER = """
import sys, json
from deephash.collection import Collection
col = Collection.open(sys.argv[1])
sizes, bad = set(), 0
for _ in range(int(sys.argv[2])):
    hits = col.search_code(bytes(2), k=1000)
    n = len(hits)
    sizes.add(n)
    if len({h.id for h in hits}) != n or any(not h.path for h in hits):
        bad += 1
print(json.dumps({"sizes": sorted(sizes), "bad": bad}))
"""


def test_readers_in_other_processes_see_committed_states(tmp_path):
    src = make_folder(tmp_path / "src", per_class=4, damaged=False)
    col = Collection.build(src, tmp_path / "col", **FAST)
    reader = subprocess.Popen(
        [sys.executable, "-c", _READER, str(col.path), "400"], env=_env(), stdout=subprocess.PIPE, text=True
    )
    states = {len(col)}
    for i in range(4):
        Image.fromarray(image(COLOURS["red"], 500 + i)).save(src / "red" / f"x{i}.png")
        col.sync(progress=False)
        states.add(len(col))
        col.remove(str(src / "red" / f"x{i}.png"))
        states.add(len(col))
    out, _ = reader.communicate(timeout=240)
    got = json.loads(out)
    assert got["bad"] == 0
    assert set(got["sizes"]) <= states  # every answer is one committed state, never a mixture


def test_import_deephash_and_search_by_id_without_torch(built):
    _src, col = built
    code = textwrap.dedent(
        f"""
        import sys
        sys.modules["torch"] = None  # importing torch now fails
        import deephash
        col = deephash.Collection.open({str(col.path)!r})
        hits = col.search(1, k=3)
        print(len(hits), hits[0].distance)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["3", "0"]


def test_sync_verify_catches_a_replacement_that_kept_size_and_mtime(tmp_path):
    src = make_folder(tmp_path / "src", per_class=1, damaged=False)
    bmp = src / "red" / "same.bmp"  # a BMP's size depends only on its dimensions
    Image.fromarray(image(COLOURS["red"], 1, (32, 32))).save(bmp)
    col = Collection.build(src, tmp_path / "col", **FAST)
    before = col.search(str(bmp), k=1)[0]
    st = bmp.stat()
    Image.fromarray(image(COLOURS["blue"], 2, (32, 32))).save(bmp)
    os.utime(bmp, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert bmp.stat().st_size == st.st_size
    assert col.sync(progress=False).updated == 0  # size and mtime alone cannot see it
    r = col.sync(verify=True, progress=False)
    assert (r.updated, r.encoded) == (1, 1)
    assert col.search(str(bmp), k=1)[0].id != before.id


@pytest.mark.parametrize("layout", ["(S, S)", "(S, S, 1)"])
def test_grayscale_model_encodes_items_converted_to_grey(tmp_path, layout):
    from PIL import ImageOps

    from deephash import methods
    from deephash.collection._encoders import rgb_to_gray

    src = make_folder(tmp_path / "src", per_class=3, damaged=False)
    files = sorted(p for p in src.rglob("*") if p.is_file())

    def grey(f):  # what the model was trained on: the centred square, resized, in Pillow's "L" mode
        with Image.open(f) as im:
            return np.asarray(ImageOps.fit(im.convert("RGB"), (16, 16), method=Image.BILINEAR).convert("L"))

    x = np.stack([grey(f) for f in files])
    if layout == "(S, S, 1)":
        x = x[..., None]
    y = np.array([["red", "green", "blue"].index(f.parent.name) for f in files])
    m = methods.DSH(bits=16, backbone="small_cnn", seed=0, epochs=1, batch_size=8, progress=False).fit(x, y)
    m.save(tmp_path / "grey.dh")
    col = Collection.build(src, tmp_path / "col", model=tmp_path / "grey.dh", progress=False)
    assert col.manifest["model"]["channels"] == 1 and col.manifest["model"]["image_size"] == 16
    want = m.encode(x)
    got = np.concatenate([col.encode(str(f)) for f in files])
    np.testing.assert_array_equal(got, want)  # the same grey pixels went through the same network
    assert all(col.search(str(f), k=1)[0].distance == 0 for f in files[:3])
    col.close()
    with Collection.open(tmp_path / "col") as again:  # the input shape comes back from the model file
        np.testing.assert_array_equal(again.encode(str(files[4])), want[4:5])
        np.testing.assert_array_equal(again.encode(x[4].squeeze()), want[4:5])  # a grey (H, W) array query
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    np.testing.assert_array_equal(rgb_to_gray(rgb), np.asarray(Image.fromarray(rgb).convert("L")))


def test_models_of_other_inputs_are_refused_saying_what_is_supported():
    from deephash.collection._encoders import input_of

    assert input_of({"method": "DSH", "input_shape": [28, 28]}) == ("images", 28, (28, 28))
    assert input_of({"method": "DSH", "input_shape": [28, 28, 3]}) == ("images", 28, (28, 28, 3))
    with pytest.raises(ValueError, match=r"shape \(16, 16, 2\) \(2 channels\).*grayscale.*RGB"):
        input_of({"method": "DSH", "input_shape": [16, 16, 2]})
    with pytest.raises(ValueError, match=r"16x20 \(height x width\).*square"):
        input_of({"method": "DSH", "input_shape": [16, 20, 1]})
    with pytest.raises(ValueError, match="feature vectors"):
        input_of({"method": "ITQ", "input_shape": [64]})


def test_compressed_tar_is_unpacked_once_and_read_by_offset(tmp_path, monkeypatch):
    import deephash.collection._archives as archives

    src = make_folder(tmp_path / "src", per_class=3, damaged=False)
    files = sorted(p for p in src.rglob("*") if p.is_file())

    def pack(path, names):
        with tarfile.open(path, "w:xz") as tf:
            for f in names:
                tf.add(f, arcname=f"photos/{f.parent.name}/{f.name}")

    tar = tmp_path / "photos.tar.xz"
    pack(tar, files)
    col = Collection.build(tar, tmp_path / "col", **FAST)
    assert len(col) == 9 and not col.errors
    copies = sorted((col.path / "cache").iterdir())
    assert len(copies) == 1 and copies[0].name.startswith("unpacked-")  # decompressed once, not per item

    def same_image(hit_id, f):
        with Image.open(f) as im:
            return np.array_equal(np.asarray(col.image(hit_id)), np.asarray(im.convert("RGB")))

    # every read after the build is a pread in the unpacked copy: no tar is opened or scanned
    real_open = tarfile.open

    def no_scan(name=None, *a, **k):
        if name is not None and (str(name) == str(tar) or str(col.path / "cache") in str(name)):
            pytest.fail(f"{name} was scanned to read one member")
        return real_open(name, *a, **k)

    with monkeypatch.context() as m:
        m.setattr(archives.tarfile, "open", no_scan)
        for f in files:
            hit = col.search(str(f), k=1)[0]
            assert hit.distance == 0 and hit.path == f"{tar}#photos/{f.parent.name}/{f.name}"
            assert same_image(hit.id, f) and col.thumbnail(hit.id, 16)[:3] == b"\xff\xd8\xff"
    # the archive rewritten with a new member first: every member moves; sync records the new
    # offsets (no re-encoding), a new copy replaces the old one
    extra = tmp_path / "extra.png"
    Image.fromarray(image(COLOURS["red"], 77)).save(extra)
    pack(tar, [extra, *files])
    os.utime(tar, ns=(10**18, 10**18))  # a distinct mtime, whatever the clock's resolution
    r = col.sync(progress=False)
    assert (r.added, r.updated, r.unchanged, r.encoded) == (1, 0, 9, 1), r
    copies = sorted((col.path / "cache").iterdir())
    assert len(copies) == 1 and copies[0].name.endswith(f"-{10**18}.tar")
    for f in files:
        assert same_image(col.search(str(f), k=1)[0].id, f)
    # without a cache folder (None) members are read sequentially, same bytes
    it = col.item(col.search(str(files[0]), k=1)[0].id)
    member = it.path.split("#", 1)[1]
    assert archives.read_member(str(tar), member, None, None, None) == files[0].read_bytes()
    # a cache folder that cannot be made (here: under a file): read sequentially, not "damaged"
    (tmp_path / "a-file").write_bytes(b"")
    assert archives.read_member(str(tar), member, None, None, tmp_path / "a-file" / "cache") == files[0].read_bytes()
    # a row recorded without an offset: found once in the unpacked copy's member index
    assert archives.read_member(str(tar), member, None, None, col.path / "cache") == files[0].read_bytes()
    col.close()


@pytest.mark.parametrize("name", ["auto", "torch", "onnx"])  # auto: OpenVINO where installed
def test_build_and_queries_use_one_engine_and_items_find_themselves(tmp_path, monkeypatch, name):
    """Every collection encoding runs as one large job: with ``auto`` the build's small batches
    and a one-image query both run in the fast engine (an exported graph appears), and each
    item's own file, encoded as a query, finds the item at distance 0, in every engine."""
    from deephash.models import engine

    if name in ("onnx", "openvino") and name not in engine.available_engines():
        pytest.skip(f"{name} is not installed")
    monkeypatch.setenv("DEEPHASH_ENGINE", name)
    monkeypatch.setenv("DEEPHASH_CACHE_DIR", str(tmp_path / "cache"))  # no graph exported yet
    monkeypatch.setattr(engine, "_WARNED", set())  # a fallback is reported here, not hidden by an earlier one
    src = make_folder(tmp_path / "photos", per_class=4, damaged=False)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always", engine.EngineFallbackWarning)
        with Collection.build(src, tmp_path / "col", batch_size=5, **FAST) as col:
            files = sorted(p for p in src.rglob("*") if p.is_file())
            for f in files:
                me = [h for h in col.search(str(f), k=len(col)) if h.path == str(f)]
                assert me and me[0].distance == 0, f
    fell_back = [w for w in seen if issubclass(w.category, engine.EngineFallbackWarning)]
    fast = name != "torch" and len(engine.available_engines()) > 1 and not fell_back
    assert bool(list(engine.engine_cache_dir().glob("*.onnx"))) == fast


def _class_precision(col, k=10):
    """Mean share of each item's k nearest others (ties broken by id) that share its label."""
    everyone = col.search(np.zeros(col.bits // 8, np.uint8), k=len(col))
    got = []
    for item in everyone:
        hits = [h for h in col.search(item.id, k=k + 1) if h.id != item.id][:k]
        got.append(np.mean([h.label == item.label for h in hits]))
    return float(np.mean(got))


def test_supervised_method_beats_the_unsupervised_default_on_class_folders(tmp_path):
    """DPSH trained by the build on class folders (labels from the folder names) puts more of
    each item's neighbours in its class than the default and than LSH (bundled digits, 30 per
    class, written as PNG files)."""
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_digits

    d = load_digits()
    for digit in range(10):
        folder = tmp_path / "digits" / str(digit)
        folder.mkdir(parents=True)
        for i, j in enumerate(np.flatnonzero(d.target == digit)[:30]):
            img = (d.images[j] * (255 / 16)).astype(np.uint8)
            Image.fromarray(img).resize((32, 32), Image.NEAREST).save(folder / f"{i:02d}.png")
    opts = dict(bits=32, image_size=32, progress=False)
    got = {}
    for name in ("default", "LSH", "DPSH"):
        method = None if name == "default" else name
        with Collection.build(tmp_path / "digits", tmp_path / name, method=method, **opts) as col:
            assert len(col) == 300 and col.info()["model"]["method"] != ""
            got[name] = _class_precision(col)
    assert got["DPSH"] > max(got["default"], got["LSH"]) + 0.1, got
