"""Searchable collections of images or texts: :class:`Collection` (``deephash.Collection``).

Needs Pillow for images and PyTorch to encode (``pip install 'deephash[torch]'``); both are
imported only when used, so ``import deephash`` works without them.
"""

from __future__ import annotations

from ._files import CollectionBusyError
from ._images import DamagedItem
from .collection import Collection, Hit, Item, SyncReport

__all__ = ["Collection", "CollectionBusyError", "DamagedItem", "Hit", "Item", "SyncReport"]
