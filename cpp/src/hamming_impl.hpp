// Portable Hamming kernels, written once and compiled in each per-ISA translation unit.
//
// Include this inside a namespace unique to the ISA (e.g. `namespace deephash::avx2_isa`): the
// functions are then compiled with that unit's flags (with -mpopcnt __builtin_popcountll is one
// instruction) and never merged across units by the linker.
//
// The per-ISA files use these for code widths their vector paths do not cover and for tails.
// This header includes nothing: the including file includes <cstddef>, <cstdint>, <cstring> and
// "bits_util.hpp" (load_u64, load_u32) first, outside the namespace, so that no header is ever
// pasted into an ISA namespace.

// Hamming distance of codes of W 64-bit words.
template <size_t W>
inline int32_t distance_words(const uint8_t* a, const uint8_t* b) {
  int32_t d = 0;
  for (size_t w = 0; w < W; ++w) d += __builtin_popcountll(load_u64(a + 8 * w) ^ load_u64(b + 8 * w));
  return d;
}

// Hamming distance of codes of any byte length.
inline int32_t distance_any(const uint8_t* a, const uint8_t* b, size_t nbytes) {
  int32_t d = 0;
  size_t i = 0;
  for (; i + 8 <= nbytes; i += 8) d += __builtin_popcountll(load_u64(a + i) ^ load_u64(b + i));
  if (i + 4 <= nbytes) {
    d += __builtin_popcount(load_u32(a + i) ^ load_u32(b + i));
    i += 4;
  }
  for (; i < nbytes; ++i) d += __builtin_popcount(static_cast<unsigned>(a[i] ^ b[i]));
  return d;
}

// Distance functor for a fixed width, or the any-width fallback (W = 0).
template <size_t W>
struct FixedDistance {
  size_t nbytes;
  int32_t operator()(const uint8_t* a, const uint8_t* b) const { return distance_words<W>(a, b); }
};
template <>
struct FixedDistance<0> {
  size_t nbytes;
  int32_t operator()(const uint8_t* a, const uint8_t* b) const { return distance_any(a, b, nbytes); }
};

template <typename Dist>
inline void distances_loop(Dist dist, const uint8_t* q, const uint8_t* codes, size_t n, size_t nbytes, int32_t* out) {
  for (size_t i = 0; i < n; ++i) out[i] = dist(q, codes + i * nbytes);
}

template <typename Dist>
inline size_t scan_leq_loop(Dist dist, const uint8_t* q, const uint8_t* codes, size_t n, size_t nbytes, int32_t thr,
                            uint32_t* idx, int32_t* out, size_t start = 0) {
  size_t c = 0;
  for (size_t i = start; i < n; ++i) {
    int32_t d = dist(q, codes + i * nbytes);
    if (d <= thr) {
      idx[c] = static_cast<uint32_t>(i);
      out[c] = d;
      ++c;
    }
  }
  return c;
}

// Portable versions, specialised for the common widths (32, 64, 128, 256, 512 bits).
inline int32_t distance_portable(const uint8_t* a, const uint8_t* b, size_t nbytes) {
  return distance_any(a, b, nbytes);
}

inline void distances_portable(const uint8_t* q, const uint8_t* codes, size_t n, size_t nbytes, int32_t* out) {
  switch (nbytes) {
    case 8: return distances_loop(FixedDistance<1>{nbytes}, q, codes, n, nbytes, out);
    case 16: return distances_loop(FixedDistance<2>{nbytes}, q, codes, n, nbytes, out);
    case 32: return distances_loop(FixedDistance<4>{nbytes}, q, codes, n, nbytes, out);
    case 64: return distances_loop(FixedDistance<8>{nbytes}, q, codes, n, nbytes, out);
    default: return distances_loop(FixedDistance<0>{nbytes}, q, codes, n, nbytes, out);
  }
}

inline size_t scan_leq_portable(const uint8_t* q, const uint8_t* codes, size_t n, size_t nbytes, int32_t thr,
                                uint32_t* idx, int32_t* out, size_t start = 0) {
  switch (nbytes) {
    case 8: return scan_leq_loop(FixedDistance<1>{nbytes}, q, codes, n, nbytes, thr, idx, out, start);
    case 16: return scan_leq_loop(FixedDistance<2>{nbytes}, q, codes, n, nbytes, thr, idx, out, start);
    case 32: return scan_leq_loop(FixedDistance<4>{nbytes}, q, codes, n, nbytes, thr, idx, out, start);
    case 64: return scan_leq_loop(FixedDistance<8>{nbytes}, q, codes, n, nbytes, thr, idx, out, start);
    default: return scan_leq_loop(FixedDistance<0>{nbytes}, q, codes, n, nbytes, thr, idx, out, start);
  }
}
