"""Lazy access to PyTorch: a clear error when the optional extra is missing, and device choice."""

from __future__ import annotations

__all__ = ["require_torch", "resolve_device"]


def require_torch():
    """Imports and returns torch, or raises ImportError saying how to install it."""
    try:
        import torch
    except ImportError as e:  # pragma: no cover - exercised only without torch
        raise ImportError("deephash's trainers need PyTorch: pip install 'deephash[torch]'") from e
    return torch


def resolve_device(device=None):
    """``None`` or ``"auto"`` picks the first CUDA GPU when one is present, else the CPU."""
    torch = require_torch()
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if isinstance(device, torch.device):
        return device
    if isinstance(device, str):
        return torch.device(device)
    raise TypeError(f"device must be None, 'auto', a string or a torch.device, got {type(device).__name__}")
