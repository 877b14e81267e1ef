"""What turns a collection's items into codes: the embedded default, or a user's hashing method.

- :class:`DefaultEncoder`: a pretrained network's frozen features (EfficientNet-Lite0 for
  images, MiniLM for texts), optionally L2-normalised, then an unsupervised projection method
  (ITQ or PCAH) fitted on features of the collection itself. Which projection and whether to
  normalise is chosen on a validation split by how well Hamming neighbours keep the feature
  space's nearest neighbours (:func:`choose_default`).
- :class:`MethodEncoder`: any fitted ``deephash.methods`` model that takes images or texts.

Both are saved in the collection folder (``model.npz`` plus the manifest's ``model`` entry), so
``Collection.open`` encodes queries exactly as the build encoded items. PyTorch is imported
only here, when a model is built or loaded.

Every encoding (the build's fit sample and stream, ``sync``, ``add``, a query) runs inside
:func:`deephash.models.engine.large_job`, so with ``DEEPHASH_ENGINE=auto`` a network that has a
fast engine (EfficientNet-Lite0) runs in it for the build's 64-image batches and for a one-image
query alike: items and queries of one collection go through the same engine. (Outside a large
job, ``auto`` would run calls under 256 images in PyTorch: the build at a quarter of the speed,
and its codes from another engine than a query's.)
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np

__all__ = ["DefaultEncoder", "MethodEncoder", "choose_default", "load_encoder", "method_meta", "one_engine"]

#: The default's candidates: (projection method, L2-normalise the features first).
CANDIDATES = (("ITQ", True), ("ITQ", False), ("PCAH", True))


def _methods():
    try:
        from .. import methods
    except ImportError as e:
        raise ImportError(f"encoding needs PyTorch and the trainers (pip install 'deephash[torch]'): {e}") from None
    return methods


def feature_spec(kind: str, image_size: int) -> dict:
    if kind == "images":
        return {"name": "efficientnet_lite0", "resolution": int(image_size)}
    return {"name": "minilm"}


def one_engine():
    """The context every collection encoding runs in: one large job (see the module's notes)."""
    from ..models.engine import large_job

    return large_job()


def _l2(f: np.ndarray) -> np.ndarray:
    f = np.asarray(f, dtype=np.float32)
    n = np.linalg.norm(f, axis=1, keepdims=True)
    return f / np.maximum(n, 1e-12)


class FeatureExtractor:
    """A frozen pretrained backbone (deephash.models): batch -> float32 (b, d)."""

    def __init__(self, spec: dict, kind: str, image_size: int):
        from ..models import build_backbone, normalize_spec

        shape = (1, image_size, image_size, 3) if kind == "images" else (1,)
        self.module, _info = build_backbone(normalize_spec(dict(spec)), shape)
        self.module.eval()
        self.kind = kind

    def __call__(self, batch) -> np.ndarray:
        from ..models import extract_features

        x = np.asarray(batch) if self.kind == "images" else np.array(list(batch), dtype=object)
        with one_engine():
            f = extract_features(self.module, x, tag=None, cache_dir=None, batch_size=max(len(x), 1), progress=False)
        return np.asarray(f, dtype=np.float32)


class DefaultEncoder:
    """Frozen features -> (L2 normalisation) -> a fitted unsupervised projection (ITQ/PCAH)."""

    def __init__(self, kind: str, image_size: int, normalize: bool, method, features=None):
        self.kind = kind
        self.image_size = int(image_size)
        self.normalize = bool(normalize)
        self.method = method
        self.features = features or FeatureExtractor(feature_spec(kind, image_size), kind, image_size)

    @property
    def code_bits(self) -> int:
        return self.method.code_bits

    def encode_features(self, f: np.ndarray) -> np.ndarray:
        return self.method.encode(_l2(f) if self.normalize else np.asarray(f, np.float32))

    def encode(self, batch) -> np.ndarray:
        """uint8 images (b, S, S, 3) or a list of str -> codes uint8 (b, code_bits // 8)."""
        return self.encode_features(self.features(batch))

    def describe(self) -> dict:
        return {
            "type": "default",
            "input": self.kind,
            "features": feature_spec(self.kind, self.image_size),
            "normalize": "l2" if self.normalize else "none",
            "method": self.method.name,
            "image_size": self.image_size,
            "file": "model.npz",
        }


def rgb_to_gray(images: np.ndarray) -> np.ndarray:
    """uint8 RGB (..., 3) -> uint8 luma (...): ITU-R 601-2 weights in Pillow's fixed-point
    arithmetic, so the result equals ``Image.convert("L")`` bit for bit (a grey image's RGB
    gives back its grey values exactly)."""
    x = np.asarray(images, dtype=np.uint32)
    y = (x[..., 0] * 19595 + x[..., 1] * 38470 + x[..., 2] * 7471 + 0x8000) >> 16
    return y.astype(np.uint8)


class MethodEncoder:
    """A fitted deephash.methods model that takes images (resized to its input size) or texts.

    Items are decoded as RGB; a model trained on grayscale images (per-item shape (S, S) or
    (S, S, 1), recorded in its file) gets them converted to grey first, as Pillow's ``"L"``
    mode does.
    """

    def __init__(self, method, kind: str, image_size: Optional[int], input_shape: Optional[tuple] = None):
        self.method = method
        self.kind = kind
        self.image_size = image_size
        self.input_shape = None if input_shape is None else tuple(int(v) for v in input_shape)

    @property
    def code_bits(self) -> int:
        return self.method.code_bits

    @property
    def channels(self) -> Optional[int]:
        """1 (grayscale) or 3 (RGB) for image models, None for texts."""
        if self.kind != "images":
            return None
        return 3 if self.input_shape is None or self.input_shape[-1:] == (3,) else 1

    def encode(self, batch) -> np.ndarray:
        """uint8 RGB images (b, S, S, 3) or a list of str -> codes uint8 (b, code_bits // 8)."""
        if self.kind == "texts":
            return self.method.encode(list(batch))
        x = np.asarray(batch)
        if self.channels == 1:
            x = rgb_to_gray(x)
            if len(self.input_shape) == 3:
                x = x[..., None]
        with one_engine():
            return self.method.encode(x)

    def describe(self) -> dict:
        d = {
            "type": "method",
            "input": self.kind,
            "method": self.method.name,
            "image_size": self.image_size,
            "file": "model.npz",
        }
        if self.kind == "images":
            d["channels"] = self.channels
        return d


def method_meta(path) -> dict:
    """The JSON metadata of a saved model file (method, bits, input shape, backbone)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            if "__meta__" not in z.files:
                raise ValueError(f"{path} is not a deephash model file (no metadata)")
            return json.loads(str(z["__meta__"]))
    except (OSError, ValueError) as e:
        if isinstance(e, FileNotFoundError):
            raise FileNotFoundError(f"no saved model at {path}") from None
        raise ValueError(f"{path} is not a deephash model file ({e})") from None


def input_of(meta: dict) -> Tuple[str, Optional[int], Optional[tuple]]:
    """(input kind, square image size, per-item input shape) of a saved model, from its
    metadata: ("texts", None, None), or ("images", S, shape) with shape (S, S) or (S, S, 1)
    (grayscale) or (S, S, 3) (RGB). Anything else is refused with a ValueError."""
    if "input_shapes" in meta:
        raise ValueError(f"a {meta.get('method')} model is cross-modal; a collection needs one modality")
    shape = meta.get("input_shape")
    if shape is None:
        raise ValueError(f"the {meta.get('method')} model does not record its input shape")
    shape = tuple(int(v) for v in shape)
    if len(shape) == 0:
        return "texts", None, None
    if len(shape) == 3 and shape[2] not in (1, 3):
        raise ValueError(
            f"the {meta.get('method')} model takes images of shape {shape} ({shape[2]} channels); collections "
            "support models of grayscale (S, S) or (S, S, 1) and RGB (S, S, 3) images"
        )
    if len(shape) in (2, 3) and shape[0] == shape[1]:
        return "images", shape[0], shape
    if len(shape) in (2, 3):
        raise ValueError(
            f"the {meta.get('method')} model takes {shape[0]}x{shape[1]} (height x width) images; collections "
            "support models of square images (S x S)"
        )
    raise ValueError(
        f"the {meta.get('method')} model encodes feature vectors of shape {tuple(shape)}; a collection "
        "needs a model that takes images or texts"
    )


def save_method(method, path: Path) -> dict:
    """Saves a fitted method atomically to ``path``; returns its metadata."""
    from ._files import write_atomic

    fd, tmp = tempfile.mkstemp(suffix=".npz", dir=str(path.parent))
    os.close(fd)
    try:
        method.save(tmp)
        data = Path(tmp).read_bytes()
    finally:
        os.unlink(tmp)
    write_atomic(path, data)
    return method_meta(path)


def load_encoder(folder: Path, desc: dict):
    """The encoder a manifest's ``model`` entry describes."""
    from ._files import inside

    methods = _methods()
    file = inside(folder, desc.get("file", ""), "model file")
    method = methods.load(file)
    kind = desc.get("input")
    if kind not in ("images", "texts"):
        raise ValueError(f"{folder}: the manifest's model input {kind!r} is neither images nor texts")
    size = desc.get("image_size")
    if desc.get("type") == "default":
        return DefaultEncoder(kind, int(size or 160), desc.get("normalize") == "l2", method)
    if desc.get("type") == "method":
        # the input shape comes from the model file itself (grayscale or RGB, its size)
        got_kind, got_size, shape = input_of(method_meta(file))
        if got_kind != kind or (kind == "images" and got_size != size):
            raise ValueError(
                f"{folder}: the manifest says the model takes {kind} of size {size}, its file says {got_kind} "
                f"of size {got_size}"
            )
        return MethodEncoder(method, kind, None if size is None else int(size), shape)
    raise ValueError(f"{folder}: unknown model type {desc.get('type')!r} in the manifest")


# ----------------------------------------------------------------------------- choosing the default


def _hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.bitwise_count(a[:, None, :] ^ b[None, :, :]).sum(-1, dtype=np.int32)


def neighbour_recall(codes: np.ndarray, features: np.ndarray, k: int = 10) -> float:
    """How many of each item's k nearest neighbours by cosine similarity of ``features`` are
    among its k nearest by Hamming distance of ``codes`` (self excluded), averaged; ties at
    the k-th distance count by their expected share (a random order within equal distances)."""
    n = codes.shape[0]
    k = min(k, n - 1)
    f = _l2(features)
    sim = f @ f.T
    np.fill_diagonal(sim, -np.inf)
    truth = np.argsort(-sim, axis=1, kind="stable")[:, :k]
    d = _hamming(codes, codes).astype(np.float64)
    np.fill_diagonal(d, np.inf)
    total = 0.0
    for i in range(n):
        row = d[i]
        kth = np.partition(row, k - 1)[k - 1]
        below = row < kth
        at = row == kth
        slots = k - int(below.sum())
        share = slots / max(int(at.sum()), 1)
        t = truth[i]
        total += float(below[t].sum()) + share * float(at[t].sum())
    return total / (n * k)


def choose_default(features: np.ndarray, bits: int, seed: int, val_size: int = 1000) -> Tuple[object, bool, List]:
    """Fits each candidate on a training part of ``features`` and keeps the best on the rest.

    Returns (method refitted on all of ``features``, normalise flag, [(name, normalise,
    recall), ...] of the candidates).
    """
    methods = _methods()
    n = features.shape[0]
    scores = []
    if n >= 100:
        rng = np.random.default_rng(seed)
        perm = rng.permutation(n)
        nv = min(val_size, n // 5)
        val, fit = perm[:nv], perm[nv:]
        for name, norm in CANDIDATES:
            f_fit = _l2(features[fit]) if norm else features[fit]
            f_val = _l2(features[val]) if norm else features[val]
            m = methods.method_class(name)(bits=bits, seed=seed).fit(f_fit)
            scores.append((name, norm, neighbour_recall(m.encode(f_val), features[val])))
        best = max(scores, key=lambda s: s[2])  # first of equals: the list's order is the preference
        name, norm = best[0], best[1]
    else:
        name, norm = CANDIDATES[0]
    f_all = _l2(features) if norm else features
    return methods.method_class(name)(bits=bits, seed=seed).fit(f_all), norm, scores
