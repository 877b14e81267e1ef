"""Helpers of the serving tests: a small image collection built in seconds; ``deephash serve`` as
a subprocess on a free 127.0.0.1 port and headless Chromium come from tools/serve_screenshot.py."""

from __future__ import annotations

from pathlib import Path

from _collection_data import make_folder
from _tools import tool

shots = tool("serve_screenshot")
serve = shots.serve  # context manager: yields http://127.0.0.1:PORT/, stops the server on exit
get_json = shots.get_json

#: A fast image model for tests: LSH on HOG descriptors (no network to run), 32 x 32 inputs.
FAST_IMAGES = dict(method="lsh", method_params={"backbone": "hog"}, bits=32, image_size=32, progress=False)


def build_images(root: Path, per_class: int = 6, damaged: bool = False):
    """(source folder, Collection) of 3 * per_class Pillow-drawn images in class folders."""
    from deephash.collection import Collection

    src = make_folder(Path(root) / "photos", per_class=per_class, damaged=damaged)
    return src, Collection.build(src, Path(root) / "col", **FAST_IMAGES)
