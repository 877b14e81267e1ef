"""Codes learned beside the network: discrete updates run by hooks, off the gradient.

Some methods keep a binary code per training item next to the network -- DSDH's codes B, ADSH's
database codes V -- and update it between network epochs by discrete optimisation. The codes
live in the run's ``targets`` (float (n, bits) in {-1, +1}: the loss consumes the batch's rows
as :class:`deephash.losses.Supervision` ``TARGETS``); a method's hook rewrites them in place.
This module holds what such hooks share:

- :func:`item_outputs`: the network's current outputs for chosen training items (inference
  mode, no augmentation);
- :func:`cyclic_sign_update`: discrete cyclic coordinate descent, one bit (column) at a time,
  of the binary quadratic problem both methods reduce to.
"""

from __future__ import annotations

import numpy as np

__all__ = ["cyclic_sign_update", "item_outputs"]


def item_outputs(run, items, stage=None, batch_size: int = 512):
    """Code-layer outputs of training items, without augmentation or gradients.

    Parameters
    ----------
    run : deephash.training.Run
    items : int array (k,)
        Training-set positions.
    stage : Stage, optional
        Whose network (default: the run's first stage).
    batch_size : int
        Items per forward pass.

    Returns
    -------
    float32 tensor (k, bits) on the run's device, the rows in the order of ``items``.

    The trained modules are put in eval mode for the pass (batch norm uses its running
    statistics, dropout is off) and back in the mode they were in.
    """
    import torch

    from ..models.hash_head import code_outputs

    st = run.stages[0] if stage is None else stage
    items = np.asarray(items, dtype=np.int64)
    modes = [m.training for m in st.net.modules]
    for m in st.net.modules:
        m.eval()
    parts = []
    try:
        with torch.no_grad():
            for start in range(0, items.size, batch_size):
                idx_np = items[start : start + batch_size]
                idx = torch.from_numpy(idx_np).to(run.device)
                parts.append(code_outputs(st.net.forward(idx_np, idx, augment=False)).float())
    finally:
        for m, mode in zip(st.net.modules, modes):
            m.train(mode)
    if not parts:
        raise ValueError("item_outputs needs at least one item")
    return torch.cat(parts)


def cyclic_sign_update(codes, linear, gram, sweeps: int = 1):
    """Discrete cyclic coordinate descent on ``||B M||^2 - 2 tr(B^T P)`` over B in {-1, +1}.

    With the Gram matrix ``G = M M^T``, the terms of bit (column) k are, up to a constant,
    ``2 b_k^T (B_{-k} G_{-k,k} - P_k)`` (``b_k^T b_k G_kk`` is the same for every +-1 column), so
    the best column given the others is ``b_k = sign(P_k - B G_k + b_k G_kk)``; each column in turn,
    ``sweeps`` times. No step can increase the objective. A zero argument gives +1.

    DSDH's code step (``M = W``, the classifier; ``P = Y W^T + (eta / mu) U``) and ADSH's
    database step (``M = U~^T``, the sampled outputs; ``P = c S^T U~ + gamma U-bar``) are this
    problem.

    Parameters
    ----------
    codes : float tensor (n, r) of -1 / +1
        The starting codes; updated in place and returned.
    linear : float tensor (n, r)
        P.
    gram : float tensor (r, r)
        G, symmetric.
    sweeps : int
        Passes over the r columns.

    Returns
    -------
    codes
    """
    import torch

    n, r = codes.shape
    if linear.shape != (n, r):
        raise ValueError(f"linear must have the codes' shape {(n, r)}, got {tuple(linear.shape)}")
    if gram.shape != (r, r):
        raise ValueError(f"gram must have shape {(r, r)}, got {tuple(gram.shape)}")
    for _ in range(int(sweeps)):
        for k in range(r):
            arg = linear[:, k] - codes @ gram[:, k] + codes[:, k] * gram[k, k]
            codes[:, k] = torch.where(arg >= 0, 1.0, -1.0).to(codes.dtype)
    return codes
