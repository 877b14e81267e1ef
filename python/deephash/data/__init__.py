"""Data sets and retrieval protocols.

Data files are found in an explicit path, else ``$DEEPHASH_DATA``, else ``../shared/data``
relative to the current directory; decoded images are cached in the ``data`` folder of
deephash's cache root (``$DEEPHASH_CACHE_DIR``, else ``$XDG_CACHE_HOME/deephash``, else
``~/.cache/deephash``). Nothing is downloaded.
"""

from __future__ import annotations

from ._paths import cache_dir, data_root, find_data_file
from .cifar10 import Cifar10, cifar10_protocol, load_cifar10
from .digits import digits
from .image_folder import ImageFolder, load_image_folder, load_image_folder_splits
from .mosaics import cifar10_mosaics, compose_mosaics, digits_mosaics, mosaic_split
from .spec import load_pairs, load_split
from .splits import RetrievalSplit, SplitIndices, stratified_split, take_split
from .stream import ImageBatch, decode_image, encode_images, stream_images
from .text import (
    STC2_NAMES,
    TextDataset,
    load_stc2,
    stc2_split,
    stc2_text_split,
    text_query_split,
    tfidf_features,
)
from .wiki import WikiCrossModal, load_wiki

__all__ = [
    "STC2_NAMES",
    "Cifar10",
    "ImageBatch",
    "ImageFolder",
    "RetrievalSplit",
    "SplitIndices",
    "TextDataset",
    "WikiCrossModal",
    "cache_dir",
    "cifar10_mosaics",
    "cifar10_protocol",
    "compose_mosaics",
    "data_root",
    "decode_image",
    "digits",
    "digits_mosaics",
    "encode_images",
    "find_data_file",
    "load_cifar10",
    "load_image_folder",
    "load_image_folder_splits",
    "load_pairs",
    "load_split",
    "load_stc2",
    "load_wiki",
    "mosaic_split",
    "stc2_split",
    "stc2_text_split",
    "stratified_split",
    "stream_images",
    "take_split",
    "text_query_split",
    "tfidf_features",
]
