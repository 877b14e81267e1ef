"""The one table of hashing methods: name -> class.

Read by :func:`deephash.methods.method_class`, :func:`deephash.methods.load`, the ``deephash``
command and the benchmarks. Adding a method is one line here (its file and class); classes are
imported on first use, so listing the methods imports neither torch nor any method module.
"""

from __future__ import annotations

import importlib
from typing import Dict, Tuple

__all__ = ["METHODS", "method_class", "method_names"]

#: lower-case name -> (module inside ``deephash.methods``, class name). The class's ``name``
#: attribute is the display name (``DPSH``) and, lower-cased, the key here.
METHODS: Dict[str, Tuple[str, str]] = {
    "dpsh": ("dpsh", "DPSH"),
    "dsh": ("dsh", "DSH"),
    "dhn": ("dhn", "DHN"),
    "lsh": ("lsh", "LSH"),
    "pcah": ("pcah", "PCAH"),
    "itq": ("itq", "ITQ"),
    "sh": ("sh", "SH"),
    "cnnh": ("cnnh", "CNNH"),
    "cnnhplus": ("cnnh_plus", "CNNHPlus"),
    "dlbhc": ("dlbhc", "DLBHC"),
    "dnnh": ("dnnh", "DNNH"),
    "dh": ("dh", "DH"),
    "sdh": ("sdh", "SDH"),
    "semantichashing": ("semantic_hashing", "SemanticHashing"),
    "textcnnhash": ("text_cnn_hash", "TextCNNHash"),
    "drsch": ("drsch", "DRSCH"),
    "dsrh": ("dsrh", "DSRH"),
    "dcmh": ("dcmh", "DCMH"),
    "ccaitq": ("cca_itq", "CCAITQ"),
    "scm": ("scm", "SCM"),
    "hashnet": ("hashnet", "HashNet"),
    "greedyhash": ("greedy_hash", "GreedyHash"),
    "csq": ("csq", "CSQ"),
    "dpn": ("dpn", "DPN"),
    "orthohash": ("orthohash", "OrthoHash"),
    "dsdh": ("dsdh", "DSDH"),
    "dtsh": ("dtsh", "DTSH"),
    "dfh": ("dfh", "DFH"),
    "adsh": ("adsh", "ADSH"),
    "bihalf": ("bihalf", "BiHalf"),
    "cibhash": ("cibhash", "CIBHash"),
}


def method_names() -> Tuple[str, ...]:
    """The registered method names, lower case, in registry order."""
    return tuple(METHODS)


def method_class(name: str):
    """The method class registered under ``name`` (case-insensitive), e.g. ``"dpsh"`` -> DPSH.

    Raises
    ------
    ValueError
        ``name`` is not a registered method (the message lists the registered ones).
    """
    key = name.lower() if isinstance(name, str) else None
    if key not in METHODS:
        known = ", ".join(METHODS[k][1] for k in METHODS)
        raise ValueError(f"unknown method {name!r}; expected one of {known}")
    module, cls_name = METHODS[key]
    return getattr(importlib.import_module(f"{__package__}.{module}"), cls_name)
