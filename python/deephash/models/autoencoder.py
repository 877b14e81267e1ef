"""Semantic Hashing's network (Salakhutdinov & Hinton, 2009): an autoencoder with a binary code layer."""

from __future__ import annotations

from .._torch import require_torch
from .hash_head import HeadOutput

torch = require_torch()
nn = torch.nn

__all__ = ["AutoencoderHead"]


class AutoencoderHead(nn.Module):
    """Word counts -> code layer -> reconstructed word distribution.

    Encoder: ``log(1 + counts)``, rows scaled to unit length -> ReLU hidden layers ``hidden`` ->
    ``bits`` code units z. (The paper's hidden units are logistic, made to work by layer-wise
    RBM pretraining; trained from a random start, a stack of logistic layers passed almost no
    signal from the sparse counts — every text got the same code in a measured run — so the
    hidden layers here are ReLU.)
    In training, Gaussian noise of standard deviation ``noise`` is added to z before the
    logistic (the paper's noise injection, which drives the code units to saturate so that the
    codes ``sigmoid(z) > 0.5``, i.e. ``z > 0``, lose little by being made binary); the decoder
    mirrors the encoder and ends in ``in_dim`` word scores (a softmax over words).

    Two regularisers the paper does not have, chosen on a validation split of the STC2
    training texts: ``code_norm`` batch-normalises z (no learned scale or shift; running
    statistics at encoding time), which keeps every bit near half the texts; ``word_dropout``
    hides each word count from the encoder with that probability in training while the loss
    still reconstructs every word (a denoising autoencoder). Measured figures:
    :class:`deephash.methods.SemanticHashing`.

    Parameters
    ----------
    in_dim : int
        Vocabulary size (word-count input).
    bits : int
    hidden : sequence of int
        Encoder widths; the decoder uses them in reverse.
    noise : float
        Standard deviation of the training noise.
    code_norm : bool
        Batch normalisation of z (no affine part).
    word_dropout : float in [0, 1)
        Probability of dropping each word count from the encoder's input in training.
    seed : int
        Seeds the noise (its own generator: training is reproducible and leaves torch's global
        RNG alone).

    Output: :class:`deephash.models.HeadOutput` ``(u, logits=word scores (n, in_dim),
    latent=the input counts)``: the loss compares the reconstruction with the counts; the code
    bit is ``u > 0``. In training ``u = z``; in eval mode ``u = (z - code_mean) @
    code_rotation``, which is z itself until :meth:`set_code_rotation` is called (both are
    buffers, saved with the model). In eval mode ``u`` alone is needed, the rest is computed
    anyway.
    """

    def __init__(
        self,
        in_dim: int,
        bits: int,
        hidden=(500, 500),
        noise: float = 2.0,
        code_norm: bool = True,
        word_dropout: float = 0.3,
        seed: int = 0,
    ):
        super().__init__()
        if not noise >= 0:
            raise ValueError(f"noise must be >= 0, got {noise}")
        if not 0 <= word_dropout < 1:
            raise ValueError(f"word_dropout must be in [0, 1), got {word_dropout}")
        sizes = [int(in_dim)] + [int(h) for h in hidden]
        enc = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            enc += [nn.Linear(a, b), nn.ReLU()]
        code = [nn.BatchNorm1d(int(bits), affine=False)] if code_norm else []
        self.encoder = nn.Sequential(*enc, nn.Linear(sizes[-1], int(bits)), *code)
        rev = [int(bits)] + sizes[::-1]
        dec = []
        for a, b in zip(rev[:-2], rev[1:-1]):
            dec += [nn.Linear(a, b), nn.ReLU()]
        self.decoder = nn.Sequential(*dec, nn.Linear(rev[-2], rev[-1]))
        self.noise = float(noise)
        self.word_dropout = float(word_dropout)
        self._gen = torch.Generator().manual_seed(int(seed))
        self.register_buffer("code_mean", torch.zeros(int(bits)))
        self.register_buffer("code_rotation", torch.eye(int(bits)))

    def set_code_rotation(self, mean, rotation) -> None:
        """Sets the eval-mode code map ``u = (z - mean) @ rotation`` (mean (bits,), rotation (bits, bits))."""
        bits = self.code_mean.shape[0]
        mean = torch.as_tensor(mean, dtype=torch.float32)
        rotation = torch.as_tensor(rotation, dtype=torch.float32)
        if tuple(mean.shape) != (bits,) or tuple(rotation.shape) != (bits, bits):
            raise ValueError(
                f"expected mean ({bits},) and rotation ({bits}, {bits}), "
                f"got {tuple(mean.shape)} and {tuple(rotation.shape)}"
            )
        self.code_mean.copy_(mean)
        self.code_rotation.copy_(rotation)

    def fit_input(self, features) -> "AutoencoderHead":
        return self

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Models saved before the code rotation existed have no rotation: keep z itself.
        for name in ("code_mean", "code_rotation"):
            state_dict.setdefault(prefix + name, getattr(self, name).detach().clone())
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, counts):
        x = counts
        if self.training and self.word_dropout > 0:
            keep = torch.rand(x.shape, generator=self._gen) >= self.word_dropout
            x = x * keep.to(x.device)
        x = torch.log1p(x)
        z = self.encoder(x / x.norm(dim=1, keepdim=True).clamp_min(1e-12))
        zn = z
        if self.training and self.noise > 0:
            eps = torch.randn(z.shape, generator=self._gen) * self.noise
            zn = z + eps.to(z.device, z.dtype)
        u = z if self.training else (z - self.code_mean) @ self.code_rotation
        return HeadOutput(u, logits=self.decoder(torch.sigmoid(zn)), latent=counts)
