"""Building a collection's model: the embedded default fitted on the collection, a method
trained on it, or a given model — saved in the folder before any item is encoded."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from ._encoders import DefaultEncoder, FeatureExtractor, MethodEncoder, choose_default, feature_spec
from ._encoders import input_of, one_engine, save_method
from ._store import record_damaged
from ._writer import _load

__all__ = ["FROZEN_RECIPE", "FROZEN_STEPS", "make_encoder"]

#: How ``method=NAME`` trains a deep method on the collection's frozen image features when the
#: caller sets none of these: Adam at 3e-4, batches of 128, for FROZEN_STEPS steps (30 epochs of
#: a 5,000-item fit sample; more epochs for a smaller sample, so that it trains as much). The
#: methods' own defaults (50 epochs at 1e-3) overfit a 5,000-item sample: its items collapse to
#: about one code per class and the rest of the collection falls on those codes almost at random
#: (class precision@10 .27 on 10,000 CIFAR-10 images). Chosen for DPSH on a validation split of a
#: collection's own fit sample (bench/README.md, "Collections"); the frozen recipe of
#: bench/cifar_features.py too.
FROZEN_RECIPE = {"lr": 3e-4, "batch_size": 128}
FROZEN_STEPS = 1200


def _frozen_recipe(kwargs: dict, n: int) -> None:
    """Fills in the recipe's settings the caller left out (``n``: items in the fit sample)."""
    for key, value in FROZEN_RECIPE.items():
        kwargs.setdefault(key, value)
    if "epochs" not in kwargs:
        per_epoch = -(-max(n, 1) // int(kwargs["batch_size"]))
        kwargs["epochs"] = -(-FROZEN_STEPS // per_epoch)


def _methods():
    from ._encoders import _methods as m

    return m()


def _sample_rows(store, fit_size: int, seed: int):
    ids = store.live_ids()
    if ids.size > fit_size:
        ids = np.sort(np.random.default_rng(seed).choice(ids, fit_size, replace=False))
    by_id = store.rows(ids)
    return [by_id[i] for i in ids.tolist() if i in by_id]


def _record_bad(store, rows, bad):
    if not bad:
        return
    with store.transaction() as db:
        record_damaged(db, rows, bad)


def _fit_features(folder, store, kind, image_size, fit_size, seed, batch_size, progress):
    """Features of a seeded sample of the items, computed in batches; chunks are kept in
    ``<folder>/fit/`` so an interrupted build does not compute them again."""
    extractor = FeatureExtractor(feature_spec(kind, image_size), kind, image_size)
    cache = folder / "fit"
    cache.mkdir(exist_ok=True)
    # The sample is fixed once (saved), so a resumed build fits on the same items even when
    # damaged ones were dropped from the table meanwhile.
    sample = cache / "sample.npy"
    if sample.exists():
        sample_ids = np.load(sample, allow_pickle=False)
    else:
        sample_ids = np.array([r.id for r in _sample_rows(store, fit_size, seed)], dtype=np.int64)
        with open(cache / "sample.tmp.npy", "wb") as fh:
            np.save(fh, sample_ids)
        (cache / "sample.tmp.npy").replace(sample)
    ids_all, feats_all = [], []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(sample_ids), desc="features for fitting", unit="text" if kind == "texts" else "img")
    try:
        for c, start in enumerate(range(0, len(sample_ids), batch_size)):
            f = cache / f"chunk-{c:06d}-{batch_size}.npz"
            chunk_ids = sample_ids[start : start + batch_size]
            by_id = store.rows(chunk_ids)
            chunk = [by_id[i] for i in chunk_ids.tolist() if i in by_id]  # damaged ones are gone
            if f.exists():
                try:
                    with np.load(f, allow_pickle=False) as z:
                        ids, feats = z["ids"], z["features"]
                except (OSError, ValueError, KeyError):
                    ids = None
                if ids is not None:
                    ids_all.append(ids)
                    feats_all.append(feats)
                    if bar is not None:
                        bar.update(len(chunk))
                    continue
            ok, inputs, shas, bad = _load(chunk, kind, image_size, folder / "cache")
            _record_bad(store, chunk, bad)
            with store.transaction() as db:
                for r, sha in zip(ok, shas):
                    db.execute("UPDATE items SET sha256 = ? WHERE id = ?", (sha, r.id))
            ids = np.array([r.id for r in ok], dtype=np.int64)
            feats = extractor(np.stack(inputs) if kind == "images" else inputs) if ok else np.zeros((0, 1), np.float32)
            tmp = cache / f"tmp-{f.name}"
            with open(tmp, "wb") as fh:
                np.savez(fh, ids=ids, features=feats)
            tmp.replace(f)
            ids_all.append(ids)
            feats_all.append(feats)
            if bar is not None:
                bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()
    keep = [i for i, ids in enumerate(ids_all) if ids.size]
    if not keep:
        raise ValueError(f"no readable item to fit the model on (see the collection's errors: {store.errors()})")
    return extractor, np.concatenate([ids_all[i] for i in keep]), np.concatenate([feats_all[i] for i in keep])


def make_encoder(folder, store, kind, model, method, bits, image_size, fit_size, seed, batch_size, progress, params):
    """Returns (encoder, known codes {id: code} of the fit sample, fit report dict)."""
    methods = _methods()
    target = folder / "model.npz"
    if model is not None:
        if not isinstance(model, methods.HashingMethod) and (Path(model) / "manifest.json").is_file():
            return _from_collection(folder, Path(model), kind)
        if isinstance(model, methods.HashingMethod):
            try:
                meta = save_method(model, target)
            except RuntimeError:  # not fitted: train it, like method=
                return _train(folder, store, kind, model, image_size, fit_size, seed, batch_size, progress)
        else:
            loaded = methods.load(model)
            meta = save_method(loaded, target)
        got_kind, size, shape = input_of(meta)
        if got_kind != kind:
            raise ValueError(f"the model encodes {got_kind} but the source holds {kind}")
        enc = MethodEncoder(methods.load(target), kind, size, shape)
        return enc, {}, {"model": "given", "method": meta["method"]}
    if method is not None:
        if isinstance(method, str):
            try:
                cls = methods.method_class(method)
            except ValueError as e:
                raise ValueError(str(e)) from None
            kwargs = dict(params or {})
            if kind == "images" and "backbone" not in kwargs and issubclass(cls, methods.DeepHashingMethod):
                _frozen_recipe(kwargs, min(int(fit_size), int(store.live_ids().size)))
            kwargs.setdefault("backbone", feature_spec(kind, image_size) if kind == "images" else "minilm")
            fields = getattr(cls, "config_fields", None)
            if not progress and (fields is None or "progress" in fields):
                kwargs.setdefault("progress", False)  # --quiet silences the method's bars too
            method = cls(bits=bits, seed=seed, **kwargs)
        return _train(folder, store, kind, method, image_size, fit_size, seed, batch_size, progress)
    extractor, ids, feats = _fit_features(folder, store, kind, image_size, fit_size, seed, batch_size, progress)
    fitted, norm, scores = choose_default(feats, bits, seed)
    save_method(fitted, target)
    enc = DefaultEncoder(kind, image_size, norm, methods.load(target), features=extractor)
    codes = enc.encode_features(feats)
    report = {
        "model": "default",
        "method": fitted.name,
        "normalize": "l2" if norm else "none",
        "fit_items": int(ids.size),
        "candidates": [
            {"method": n, "normalize": "l2" if z else "none", "neighbour_recall@10": round(s, 4)} for n, z, s in scores
        ],
    }
    return enc, dict(zip(ids.tolist(), codes)), report


def _train(folder, store, kind, method, image_size, fit_size, seed, batch_size, progress):
    rows = _sample_rows(store, fit_size, seed)
    ok, inputs, _shas, bad = _load(rows, kind, image_size, folder / "cache")
    _record_bad(store, rows, bad)
    if not ok:
        raise ValueError("no readable item to train the method on")
    x = np.stack(inputs) if kind == "images" else inputs
    if getattr(method, "supervised", False):
        labels = [r.label for r in ok]
        if any(v is None for v in labels):
            raise ValueError(
                f"{method.name} is supervised: every item needs a label (images in class folders, or a "
                "label column); some have none"
            )
        classes = sorted(set(labels))
        if len(classes) < 2:
            raise ValueError(f"{method.name} is supervised and needs at least two classes, got {classes}")
        y = np.array([classes.index(v) for v in labels], dtype=np.int64)
        with one_engine():  # training features from the engine that will encode the items
            method.fit(x, y)
    else:
        with one_engine():
            method.fit(x)
    meta = save_method(method, folder / "model.npz")
    got_kind, size, shape = input_of(meta)
    enc = MethodEncoder(_methods().load(folder / "model.npz"), kind, size, shape)
    return enc, {}, {"model": "trained", "method": method.name, "fit_items": len(ok)}


def _from_collection(folder, other: Path, kind):
    """Reuses another collection's model (copied), so both give the same codes."""
    from ._encoders import load_encoder

    manifest = json.loads((other / "manifest.json").read_text())
    desc = manifest["model"]
    if desc.get("input") != kind:
        raise ValueError(f"the collection {other} encodes {desc.get('input')} but the source holds {kind}")
    shutil.copyfile(other / "model.npz", folder / "model.npz")
    enc = load_encoder(folder, desc)
    return enc, {}, {"model": "copied", "from": str(other.resolve()), "method": desc.get("method")}
