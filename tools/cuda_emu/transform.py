"""Rewrites cuda/*.cu into plain C++ for the CPU emulation (see README.md in this folder).

Kernel launches `k<<<grid, block, smem, stream>>>(args)` become `emu_launch(k, dim3(grid), ...)`;
grid-stride kernels without barriers run sequentially (`emu_launch_seq`); dynamic shared memory
becomes the emulator's global `smem` array and static shared arrays become `static`.
"""

import pathlib
import re
import sys

SEQUENTIAL = [
    "pad_rows_kernel",
    "gather_rows_kernel",
    "merge_sorted_kernel",
    "find_id_ranges_kernel",
    "compact_ranges_kernel",
    "keys_to_results_kernel",
]


def launch(m):
    args = [a.strip() for a in m.group(2).split(",")]
    args = [f"dim3({a})" if i < 2 else a for i, a in enumerate(args)]
    fn = "emu_launch_seq" if m.group(1).split("<")[0] in SEQUENTIAL else "emu_launch"
    return f"{fn}({m.group(1)}, {', '.join(args)}, "


def main(src_dir, out_dir):
    src_dir, out_dir = pathlib.Path(src_dir), pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for f in sorted(src_dir.glob("*.cu")):
        s = f.read_text()
        s = s.replace("extern __shared__ __align__(16) unsigned char smem[];", "")
        s = re.sub(r"__shared__ (\w+) (\w+)\[", r"static \1 \2[", s)
        s = s.replace("static_cast<unsigned>(a.nq)", "(unsigned)a.nq")
        s = re.sub(r"([\w:]+(?:<[^<>;]*>)?)<<<([^;]*?)>>>\(", launch, s)
        s = re.sub(
            r'#include "([\w.]+)"',
            lambda m: (
                f'#include "{(src_dir / m.group(1)).resolve()}"' if (src_dir / m.group(1)).exists() else m.group(0)
            ),
            s,
        )
        (out_dir / (f.stem + "_emu.cpp")).write_text(s)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
