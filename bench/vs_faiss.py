"""Side-by-side table of deephash and faiss-cpu at the project's target sizes.

    python bench/vs_faiss.py            # 1M codes x 1,000 queries (64/256-bit), 10M single query
    python bench/vs_faiss.py --n 200000 --nq 200 --single-n 1000000   # quicker

Every line names the SIMD level and thread count; times are medians of --repeats runs.
"""

import sys

from deephash._bench import main

if __name__ == "__main__":
    argv = sys.argv[1:]
    if not any(a.startswith("--n") or a == "--full" for a in argv):
        argv = ["--full", *argv]
    raise SystemExit(main(argv))
