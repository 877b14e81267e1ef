"""Cross-modal hashing: two encoders (image, text) into one shared Hamming space.

``m = deephash.methods.DCMH(bits=32, image_backbone="mlp", text_backbone="mlp", seed=0)``;
``m.fit(image_x, text_x, labels)`` on paired rows (row i of ``image_x`` and of ``text_x`` are one
image-text pair with labels ``labels[i]``); ``m.encode_image(x)`` and ``m.encode_text(x)`` give
packed codes in the same space, so a text query ranks images by Hamming distance (and the
reverse). ``save`` / ``deephash.methods.load`` as for every method.

:class:`CrossModalMethod` validates the pairs and packs the codes; :class:`LinearCrossModalMethod`
adds the state of the shallow methods (CCA-ITQ, SCM), whose encoders are affine maps
``(x - mean) @ projection``.
"""

from __future__ import annotations

from typing import NoReturn, Optional, Sequence

import numpy as np

from .._typing import ArrayLike, Codes, NDArray
from .base import HashingMethod
from .inputs import as_inputs, as_labels

__all__ = ["MODALITIES", "CrossModalMethod", "LinearCrossModalMethod"]

MODALITIES = ("image", "text")


def _kind(backbone) -> str:
    """Input kind ("vectors", "images", ...) a backbone takes, without importing torch for names."""
    name = backbone if isinstance(backbone, str) else (backbone.get("name") if isinstance(backbone, dict) else None)
    if name in ("features", "mlp"):
        return "vectors"
    from ..models.backbones import backbone_input_kind, normalize_spec

    return backbone_input_kind(normalize_spec(backbone))


class CrossModalMethod(HashingMethod):
    """Base class of the cross-modal methods: fit on pairs, one encoder per modality.

    Parameters
    ----------
    bits : int
        Code length, shared by both modalities.
    image_backbone, text_backbone : str, dict or torch.nn.Module, optional
        Feature extractor of each modality (see :mod:`deephash.models`); vectors through
        ``"features"`` / ``"mlp"``, images through the image backbones. Default: the method's.
    seed : int
        Seeds initialisation, batch order and random projections.
    config : TrainConfig, optional
    backbone : dict, optional
        ``{"image": spec, "text": spec}``, the pair in one argument (what a saved model stores,
        so that :func:`deephash.methods.load` can rebuild it); not together with the two above.
    **hyperparameters
        The method's own (see its docstring) or TrainConfig fields.

    Notes
    -----
    Subclasses define ``name``, ``hyperparameters``, ``default_image_backbone`` /
    ``default_text_backbone`` and implement ``_fit(image_x, text_x, labels)``,
    ``_transform(modality, x)``, ``_state`` and ``_restore``.
    """

    cross_modal = True
    default_image_backbone = "features"
    default_text_backbone = "features"

    def __init__(
        self,
        bits: int = 32,
        image_backbone=None,
        text_backbone=None,
        seed: int = 0,
        config=None,
        backbone=None,
        **hyperparameters,
    ):
        if backbone is not None:
            if image_backbone is not None or text_backbone is not None:
                raise TypeError(
                    "give either backbone={'image': ..., 'text': ...} or image_backbone / text_backbone, not both"
                )
            if not isinstance(backbone, dict) or set(backbone) != set(MODALITIES):
                raise ValueError(
                    f"a cross-modal method's backbone is a dict with keys 'image' and 'text', got "
                    f"{backbone!r}; or pass image_backbone=... and text_backbone=..."
                )
            image_backbone, text_backbone = backbone["image"], backbone["text"]
        image_backbone = self.default_image_backbone if image_backbone is None else image_backbone
        text_backbone = self.default_text_backbone if text_backbone is None else text_backbone
        super().__init__(
            bits=bits,
            backbone={"image": image_backbone, "text": text_backbone},
            seed=seed,
            config=config,
            **hyperparameters,
        )

    @property
    def image_backbone(self):
        return self.backbone["image"]

    @property
    def text_backbone(self):
        return self.backbone["text"]

    # -- validation ----------------------------------------------------------------------
    def _inputs(self, modality: str, x):
        """Checks one modality's inputs against the kind its backbone takes."""
        kind = _kind(self.backbone[modality])
        name = f"{modality}_x"
        if kind == "vectors":
            shape = getattr(x, "shape", None)
            if shape is not None and len(shape) in (3, 4):
                raise ValueError(
                    f"{name} must be feature vectors (n, d) for the {modality} backbone "
                    f"{self._backbone_name(modality)!r}, got an array of shape {tuple(shape)} "
                    "(images?); give images as image_x with an image backbone such as "
                    "'efficientnet_lite0', or feature vectors"
                )
        if kind in ("vectors", "images"):
            return as_inputs(x, kind, name)
        return x  # a backbone with its own input kind (e.g. raw texts) validates them itself

    def _backbone_name(self, modality):
        bb = self.backbone[modality]
        return bb if isinstance(bb, str) else (bb.get("name") if isinstance(bb, dict) else type(bb).__name__)

    def _check_pairs(self, image_x, text_x, labels, need_labels: bool):
        image_x = self._inputs("image", image_x)
        text_x = self._inputs("text", text_x)
        n_img, n_txt = len(image_x), len(text_x)
        if n_img != n_txt:
            raise ValueError(
                f"image_x has {n_img} rows but text_x has {n_txt}: cross-modal training takes "
                "paired rows (row i of image_x and row i of text_x are one pair)"
            )
        if n_img < 2:
            raise ValueError(f"training needs at least 2 pairs, got {n_img}")
        if labels is None and not need_labels:
            return image_x, text_x, None
        return image_x, text_x, as_labels(labels, n_img)

    def _check_shape(self, modality, x):
        want = self._input_shapes[modality]
        if want is not None and tuple(x.shape[1:]) != tuple(want):
            raise ValueError(
                f"{modality}_x must have per-item shape {tuple(want)} like the {modality}s the "
                f"model was fitted on, got {tuple(x.shape[1:])}"
            )

    # -- the public surface --------------------------------------------------------------
    supervised = True

    def fit(
        self, image_x: ArrayLike, text_x: ArrayLike, labels: Optional[ArrayLike] = None, *, callbacks: Sequence = ()
    ) -> CrossModalMethod:
        """Trains on paired rows.

        Parameters
        ----------
        image_x : numpy.ndarray
            Image inputs: feature vectors (n, d_image) or images (n, H, W[, C]), as the image
            backbone takes.
        text_x : numpy.ndarray
            Text inputs of the same n pairs, as the text backbone takes (vectors (n, d_text)).
        labels : numpy.ndarray
            int class ids (n,) or multi-hot (n, c), shared by the pair; required by the
            supervised methods (DCMH, SCM), ignored by CCA-ITQ.
        callbacks : sequence of hooks
            Deep methods (DCMH): extra hooks of the training run (:mod:`deephash.training.hooks`).
            The linear methods have no training loop and refuse them.

        Returns
        -------
        self
        """
        image_x, text_x, labels = self._check_pairs(image_x, text_x, labels, self.supervised)
        self._input_shapes = {
            "image": tuple(int(v) for v in image_x.shape[1:]) if hasattr(image_x, "shape") else None,
            "text": tuple(int(v) for v in text_x.shape[1:]) if hasattr(text_x, "shape") else None,
        }
        if callbacks:
            if not hasattr(self, "_nets"):
                raise TypeError(f"{type(self).__name__} has no training loop: callbacks are not supported")
            self._fit(image_x, text_x, labels, callbacks=callbacks)
        else:
            self._fit(image_x, text_x, labels)
        self._fitted = True
        return self

    def transform_image(self, x: ArrayLike) -> NDArray[np.float32]:
        """Real outputs of the image encoder, float32 (n, bits); the code bit is ``output > 0``."""
        return self._transform_checked("image", x)

    def transform_text(self, x: ArrayLike) -> NDArray[np.float32]:
        """Real outputs of the text encoder, float32 (n, bits); the code bit is ``output > 0``."""
        return self._transform_checked("text", x)

    def encode_image(self, x: ArrayLike) -> Codes:
        """Packed codes of images: C-contiguous uint8 (n, code_bits // 8), in the shared space."""
        return self._pack(self.transform_image(x))

    def encode_text(self, x: ArrayLike) -> Codes:
        """Packed codes of texts: C-contiguous uint8 (n, code_bits // 8), in the shared space."""
        return self._pack(self.transform_text(x))

    def _transform_checked(self, modality, x):
        self._check_fitted()
        x = self._inputs(modality, x)
        self._check_shape(modality, x)
        return np.ascontiguousarray(self._transform(modality, x), dtype=np.float32)

    def transform(self, x: ArrayLike) -> NoReturn:
        raise TypeError(
            f"{type(self).__name__} has one encoder per modality: use transform_image(x) / transform_text(x)"
        )

    def encode(self, x: ArrayLike) -> NoReturn:
        raise TypeError(f"{type(self).__name__} has one encoder per modality: use encode_image(x) / encode_text(x)")

    def fit_encode(self, x: ArrayLike, labels: Optional[ArrayLike] = None) -> NoReturn:
        raise TypeError(
            f"{type(self).__name__} trains on pairs: use fit(image_x, text_x, labels), then encode_image / encode_text"
        )

    def _check_fitted(self):
        if not self._fitted:
            raise RuntimeError(f"this {type(self).__name__} is not fitted yet; call fit(image_x, text_x, labels) first")

    # -- subclass hooks ------------------------------------------------------------------
    def _fit(self, image_x, text_x, labels):  # pragma: no cover - abstract
        raise NotImplementedError

    def _transform(self, modality, x):  # pragma: no cover - abstract
        raise NotImplementedError

    def _shapes_meta(self):
        return {"input_shapes": {m: None if s is None else list(s) for m, s in self._input_shapes.items()}}

    def _restore_shapes(self, meta):
        self._input_shapes = {m: None if s is None else tuple(s) for m, s in meta["input_shapes"].items()}


class LinearCrossModalMethod(CrossModalMethod):
    """A cross-modal method whose encoders are affine: ``(x - mean_m) @ projection_m``.

    Subclasses implement ``_learn(image_x, text_x, labels)`` returning the two (mean, projection)
    pairs, float64 (d_m,) and (d_m, bits). Inputs are vectors (no backbone: "features").
    """

    def _check_settings(self) -> None:
        for m in MODALITIES:
            if self.backbone[m] != "features":
                raise ValueError(
                    f"{type(self).__name__} works on feature vectors directly: {m}_backbone must "
                    f"be 'features', got {self.backbone[m]!r} (extract features first, e.g. with "
                    "deephash.models.extract_features)"
                )

    config_fields = frozenset()  # affine maps solved in closed form: no training settings

    def _inputs(self, modality, x):
        checked = as_inputs(x, "vectors", f"{modality}_x")
        # Solved in float64: CCA's iterations are sensitive enough that rounding float64 inputs
        # to float32 moves the Wikipedia mAP by about 0.01, so float64 inputs stay float64.
        if isinstance(x, np.ndarray) and x.dtype == np.float64:
            return np.ascontiguousarray(x)
        return checked

    def _fit(self, image_x, text_x, labels):
        maps = self._learn(image_x.astype(np.float64), text_x.astype(np.float64), labels)
        self._maps = {
            m: (np.asarray(mean, np.float64), np.asarray(proj, np.float64)) for m, (mean, proj) in zip(MODALITIES, maps)
        }

    def _learn(self, image_x, text_x, labels):  # pragma: no cover - abstract
        raise NotImplementedError

    def _transform(self, modality, x):
        mean, proj = self._maps[modality]
        return (x.astype(np.float64) - mean) @ proj

    def _state(self):
        arrays = {}
        for m, (mean, proj) in self._maps.items():
            arrays[f"{m}/mean"] = mean
            arrays[f"{m}/projection"] = proj
        return {"backbone": {"image": "features", "text": "features"}, **self._shapes_meta()}, arrays

    def _restore(self, meta, arrays):
        self._restore_shapes(meta)
        self._maps = {
            m: (np.array(arrays[f"{m}/mean"], np.float64), np.array(arrays[f"{m}/projection"], np.float64))
            for m in MODALITIES
        }
        self._fitted = True
