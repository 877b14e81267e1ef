"""The fast CPU engines (deephash.models.engine): choice, fallback, export cache, agreement with PyTorch."""

from __future__ import annotations

import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from deephash.models import engine, extract_features, images_to_tensor

FAST = ["onnx", "openvino"]


def _installed(name):
    return engine._importable(name) is None


class TinyCNN(torch.nn.Module):
    """Conv, batch norm, ReLU, pooling, linear: (b, 3, H, W) -> (b, 16)."""

    fast_engine = True
    out_dim = 16

    def __init__(self, seed=0):
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
            self.bn = torch.nn.BatchNorm2d(8)
            self.fc = torch.nn.Linear(8, 16)
        self.bn.running_mean.uniform_(-0.1, 0.1, generator=torch.Generator().manual_seed(seed))

    def forward(self, x):
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        h = torch.relu(self.bn(self.conv(x)))
        return self.fc(h.mean(dim=(2, 3)))


class NotExportable(TinyCNN):
    def forward(self, x):  # a NumPy round trip: the tracer cannot follow it
        return torch.from_numpy(super().forward(x).detach().numpy().copy())


@pytest.fixture(autouse=True)
def fresh(tmp_path, monkeypatch):
    """Each test: its own cache root, no warnings already given, DEEPHASH_ENGINE unset."""
    monkeypatch.setenv("DEEPHASH_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("DEEPHASH_ENGINE", raising=False)
    monkeypatch.setattr(engine, "_WARNED", set())
    yield


def images(n=20, seed=1, shape=(12, 12, 3)):
    return np.random.default_rng(seed).integers(0, 256, (n,) + shape, dtype=np.uint8)


def torch_features(module, x):
    """The PyTorch path: images_to_tensor, then the module in eval mode."""
    with torch.inference_mode():
        return module.eval()(images_to_tensor(x, torch)).numpy()


def count_exports(monkeypatch):
    calls = []
    real = engine._export

    def counting(*args):
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(engine, "_export", counting)
    return calls


def test_the_variable_is_read_and_checked(monkeypatch):
    assert engine.requested_engine() == "auto"
    for value in ("torch", "ONNX", " openvino ", "auto"):
        monkeypatch.setenv("DEEPHASH_ENGINE", value)
        assert engine.requested_engine() == value.strip().lower()
    monkeypatch.setenv("DEEPHASH_ENGINE", "tensorrt")
    with pytest.raises(ValueError, match="DEEPHASH_ENGINE must be one of auto, torch, onnx, openvino"):
        engine.requested_engine()
    with pytest.raises(ValueError, match="tensorrt"):
        extract_features(TinyCNN(), images(), progress=False)
    assert engine.available_engines()[0] == "torch"


def test_auto_keeps_small_calls_other_modules_and_gpus_in_torch(monkeypatch):
    x = images()
    assert engine.engine_runner(TinyCNN(), x, rows=engine.AUTO_MIN_ROWS - 1) is None
    plain = TinyCNN()
    plain.fast_engine = False
    assert engine.engine_runner(plain, x, rows=10**6) is None
    assert engine.engine_runner(TinyCNN(), x, device="cuda", rows=10**6) is None
    monkeypatch.setenv("DEEPHASH_ENGINE", "torch")
    assert engine.engine_runner(TinyCNN(), x, rows=10**6) is None
    monkeypatch.setenv("DEEPHASH_ENGINE", "auto")
    run = engine.engine_runner(TinyCNN(), x, rows=engine.AUTO_MIN_ROWS)
    fast = [e for e in FAST if _installed(e)]
    # the fastest installed engine, else PyTorch without a warning
    assert (run is None) if not fast else (run.engine == ["openvino", "onnx"][0 if "openvino" in fast else 1])
    with engine.large_job():  # a stream of small batches counts as one large call
        assert (engine.engine_runner(TinyCNN(), x, rows=1) is None) == (not fast)
    assert engine.engine_runner(TinyCNN(), x, rows=1) is None


@pytest.mark.parametrize("name", FAST)
def test_a_missing_engine_falls_back_with_one_warning(name, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime" if name == "onnx" else "openvino", None)
    monkeypatch.setenv("DEEPHASH_ENGINE", name)
    module, x = TinyCNN(), images()
    with pytest.warns(engine.EngineFallbackWarning, match=f"DEEPHASH_ENGINE={name}: the package .* is not installed"):
        got = extract_features(module, x, progress=False)
    again = extract_features(module, x, progress=False)  # no second warning (pytest errors on one)
    np.testing.assert_array_equal(got, torch_features(module, x))
    np.testing.assert_array_equal(again, got)
    monkeypatch.setenv("DEEPHASH_ENGINE", "auto")  # auto: PyTorch, silently
    assert engine.engine_runner(module, x, rows=10**6) is None or engine.available_engines() != ["torch"]


@pytest.mark.parametrize("name", FAST)
@pytest.mark.parametrize("shape,dtype", [((12, 12, 3), np.uint8), ((10, 14), np.uint8), ((9, 9, 3), np.float32)])
def test_features_agree_with_torch(name, shape, dtype, monkeypatch):
    if not _installed(name):
        pytest.skip(f"{name} is not installed")
    monkeypatch.setenv("DEEPHASH_ENGINE", name)
    x = images(37, shape=shape)
    if dtype == np.float32:
        x = (x / 255).astype(np.float64)  # float64 images are read as float32, as images_to_tensor does
    module = TinyCNN()
    module.train()
    got = extract_features(module, x, batch_size=16, progress=False)
    assert module.training  # the caller's mode is restored
    ref = torch_features(module, x)
    assert got.dtype == np.float32 and got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    assert np.mean((got > 0) == (ref > 0)) >= 0.99


@pytest.mark.parametrize("name", FAST)
def test_the_graph_is_exported_once_per_weights(name, monkeypatch, tmp_path):
    if not _installed(name):
        pytest.skip(f"{name} is not installed")
    monkeypatch.setenv("DEEPHASH_ENGINE", name)
    exports = count_exports(monkeypatch)
    module, x = TinyCNN(), images()
    first = extract_features(module, x, progress=False)
    second = extract_features(module, x[:5], progress=False)
    assert len(exports) == 1 and len(list((tmp_path / "engines").glob("*.onnx"))) == 1
    np.testing.assert_array_equal(second, first[:5])
    # the same weights in another module (another process, a loaded model): read from disk
    twin = TinyCNN()
    np.testing.assert_array_equal(extract_features(twin, x, progress=False), first)
    assert len(exports) == 1
    # changed weights (a training step, load_state_dict): exported again, new results
    with torch.no_grad():
        twin.fc.bias.add_(1.0)
    changed = extract_features(twin, x, progress=False)
    assert len(exports) == 2 and len(list((tmp_path / "engines").glob("*.onnx"))) == 2
    np.testing.assert_allclose(changed, first + 1.0, rtol=1e-5, atol=1e-5)
    # a damaged cached graph is exported again, not trusted
    for f in (tmp_path / "engines").glob("*.onnx"):
        f.write_bytes(b"not a graph")
    np.testing.assert_array_equal(extract_features(TinyCNN(), x, progress=False), first)
    assert len(exports) == 3


@pytest.mark.parametrize("name", FAST)
def test_a_failed_export_falls_back_with_one_warning(name, monkeypatch):
    if not _installed(name):
        pytest.skip(f"{name} is not installed")
    monkeypatch.setenv("DEEPHASH_ENGINE", name)
    module, x = NotExportable(), images()
    with pytest.warns(engine.EngineFallbackWarning, match=f"{name} could not run NotExportable"):
        got = extract_features(module, x, progress=False)
    np.testing.assert_array_equal(got, torch_features(module, x))
    np.testing.assert_array_equal(extract_features(module, x, progress=False), got)  # warned once


def test_activations_at_a_cut_agree_with_torch(monkeypatch):
    pytest.importorskip("efficientnet_lite_pytorch")
    name = next((e for e in FAST if _installed(e)), None)
    if name is None:
        pytest.skip("no fast engine installed")
    from deephash.models.efficientnet import EfficientNetLite0
    from deephash.models.partial import BelowCut

    backbone, x = EfficientNetLite0(32), images(6, shape=(32, 32, 3))
    ref = extract_features(BelowCut(backbone, 3), x, progress=False)
    monkeypatch.setenv("DEEPHASH_ENGINE", name)
    exports = count_exports(monkeypatch)
    got = extract_features(BelowCut(backbone, 3), x, progress=False)
    extract_features(BelowCut(backbone, 3), x, progress=False)  # a new BelowCut: the backbone's graph
    assert len(exports) == 1
    assert got.dtype == np.float16 and got.shape == ref.shape
    np.testing.assert_allclose(got.astype(np.float32), ref.astype(np.float32), rtol=2e-3, atol=2e-3)
    assert np.mean(got == ref) > 0.99  # float16 rounding differs only next to a tie


@pytest.mark.parametrize("name", FAST)
def test_threads_share_one_export(name, monkeypatch):
    if not _installed(name):
        pytest.skip(f"{name} is not installed")
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setenv("DEEPHASH_ENGINE", name)
    exports = count_exports(monkeypatch)
    module, x = TinyCNN(), images(8)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: extract_features(module, x, progress=False), range(8)))
    assert len(exports) == 1
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])
