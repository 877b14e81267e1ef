"""The streaming image pipeline (deephash.data.stream): decoding, order, bounded read-ahead, errors."""

from __future__ import annotations

import io

import numpy as np
import pytest

Image = pytest.importorskip("PIL.Image")

from deephash.data import ImageBatch, decode_image, encode_images, stream_images


def write_images(folder, n=10, size=(20, 24), fmt="PNG", seed=0):
    rng = np.random.default_rng(seed)
    paths, arrays = [], []
    for i in range(n):
        arr = rng.integers(0, 256, size + (3,), dtype=np.uint8)
        path = folder / f"{i:03d}.{fmt.lower()}"
        Image.fromarray(arr).save(path, format=fmt)
        paths.append(path)
        arrays.append(arr)
    return paths, np.stack(arrays)


def test_decode_image_from_a_file_or_bytes(tmp_path):
    paths, arrays = write_images(tmp_path, 2)
    np.testing.assert_array_equal(decode_image(paths[0]), arrays[0])  # PNG: lossless
    np.testing.assert_array_equal(decode_image(paths[1].read_bytes()), arrays[1])
    resized = decode_image(paths[0], (8, 12))
    assert resized.shape == (8, 12, 3) and resized.dtype == np.uint8
    assert decode_image(paths[0], 16).shape == (16, 16, 3)
    gray = tmp_path / "gray.png"
    Image.fromarray(arrays[0][:, :, 0]).save(gray)
    assert decode_image(gray).shape == (20, 24, 3)  # converted to RGB
    with pytest.raises(ValueError, match="size must be"):
        decode_image(paths[0], (0, 3))


def test_draft_mode_decodes_a_large_jpeg_close_to_a_full_decode():
    y, x = np.mgrid[0:800, 0:1200]
    smooth = np.stack([(x * 255 / 1200), (y * 255 / 800), ((x + y) * 255 / 2000)], -1).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(smooth).save(buf, format="JPEG", quality=95)
    fast = decode_image(buf.getvalue(), (100, 150), draft=True)
    full = decode_image(buf.getvalue(), (100, 150), draft=False)
    assert fast.shape == full.shape == (100, 150, 3)
    assert np.abs(fast.astype(int) - full.astype(int)).mean() < 3


@pytest.mark.parametrize("workers", [0, 1, 2])
def test_batches_come_in_order(tmp_path, workers):
    paths, arrays = write_images(tmp_path, 10)
    batches = list(stream_images(paths, batch_size=4, workers=workers))
    assert all(isinstance(b, ImageBatch) for b in batches)
    assert [b.images.shape[0] for b in batches] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([b.positions for b in batches]), np.arange(10))
    np.testing.assert_array_equal(np.concatenate([b.images for b in batches]), arrays)
    assert all(b.errors == () for b in batches)


def test_sources_are_read_lazily_and_read_ahead_is_bounded(tmp_path):
    paths, _ = write_images(tmp_path, 40)
    taken = []

    def sources():
        for p in paths:
            taken.append(p)
            yield str(p)

    stream = stream_images(sources(), batch_size=4, workers=1, prefetch=2)
    first = next(stream)
    # two batches submitted ahead, one more submitted when the first is handed out
    assert first.positions.tolist() == [0, 1, 2, 3] and len(taken) <= 3 * 4
    stream.close()  # stops the workers
    assert len(taken) <= 3 * 4


def test_a_damaged_file_raises_or_is_skipped(tmp_path):
    paths, arrays = write_images(tmp_path, 5)
    paths[2].write_bytes(b"not an image")
    with pytest.raises(ValueError, match=r"could not decode image 2 \(.*002.png\)"):
        list(stream_images(paths, batch_size=2, workers=0))
    batches = list(stream_images(paths, batch_size=2, workers=1, on_error="skip"))
    np.testing.assert_array_equal(np.concatenate([b.positions for b in batches]), [0, 1, 3, 4])
    np.testing.assert_array_equal(np.concatenate([b.images for b in batches]), arrays[[0, 1, 3, 4]])
    assert batches[1].errors[0][0] == 2 and "UnidentifiedImageError" in batches[1].errors[0][1]


def test_images_of_different_sizes_need_a_size(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, _ = write_images(tmp_path / "a", 1, size=(10, 10))
    b, _ = write_images(tmp_path / "b", 1, size=(12, 10))
    with pytest.raises(ValueError, match="different sizes"):
        list(stream_images(a + b, workers=0))
    (batch,) = stream_images(a + b, (6, 6), workers=0)
    assert batch.images.shape == (2, 6, 6, 3)


def test_arguments_are_validated(tmp_path):
    for kwargs, match in (
        ({"batch_size": 0}, "batch_size must be an int >= 1"),
        ({"workers": -1}, "workers must be an int >= 0"),
        ({"prefetch": 0}, "prefetch must be an int >= 1"),
        ({"on_error": "ignore"}, "on_error must be"),
    ):
        with pytest.raises(ValueError, match=match):
            stream_images([], **kwargs)  # checked at the call, not at the first batch
    with pytest.raises(TypeError, match="an iterable of paths"):
        stream_images("one.jpg")
    with pytest.raises(TypeError, match="image source 1 must be a path or bytes"):
        next(stream_images([tmp_path / "x.png", 3], workers=0))


def test_encode_images_runs_the_method_per_batch_as_one_large_job(tmp_path):
    pytest.importorskip("torch")
    from deephash.models import engine

    paths, arrays = write_images(tmp_path, 7)

    class Recorder:
        seen = []

        def encode(self, images):
            self.seen.append((images.copy(), engine._JOB.get()))
            return np.packbits(images[:, 0, :8, 0] > 127, axis=1)

    m = Recorder()
    out = list(encode_images(m, paths, batch_size=3, workers=0))
    assert [p.tolist() for p, _ in out] == [[0, 1, 2], [3, 4, 5], [6]]
    np.testing.assert_array_equal(np.concatenate([c for _, c in out]), np.packbits(arrays[:, 0, :8, 0] > 127, axis=1))
    assert all(job for _, job in m.seen) and not engine._JOB.get()
