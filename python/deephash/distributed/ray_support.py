"""Ray plumbing shared by the distributed index, encoding and training: import, connect, ports."""

from __future__ import annotations

import socket

__all__ = ["ensure_ray", "free_port", "require_ray"]


def require_ray():
    """The ``ray`` module; ImportError saying how to install it when it is missing."""
    try:
        import ray
    except ImportError:
        raise ImportError("deephash.distributed needs Ray: pip install 'deephash[distributed]'") from None

    return ray


def ensure_ray(address=None) -> None:
    """Connects to Ray: to ``address`` when given, else to a running local instance or a new one."""
    ray = require_ray()
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)


def free_port() -> int:
    """A TCP port free on this host now (for a torch.distributed rendezvous)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("", 0))
        return s.getsockname()[1]
