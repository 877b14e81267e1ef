// Portable weighted-Hamming kernels, written once and compiled in each per-ISA translation unit
// (include inside a namespace unique to the ISA, like hamming_impl.hpp). Integer sums only.
//
// Same rule as hamming_impl.hpp: this header includes nothing; the including file includes
// <cstddef>, <cstdint>, <cstring>, "deephash/weighted.hpp" and "bits_util.hpp" (load_u64) first,
// outside the namespace.

inline int32_t masked_distance_any(const uint8_t* a, const uint8_t* b, const uint8_t* mask, size_t nbytes) {
  int32_t d = 0;
  size_t i = 0;
  for (; i + 8 <= nbytes; i += 8) d += __builtin_popcountll((load_u64(a + i) ^ load_u64(b + i)) & load_u64(mask + i));
  for (; i < nbytes; ++i) d += __builtin_popcount(static_cast<unsigned>((a[i] ^ b[i]) & mask[i]));
  return d;
}

inline size_t masked_scan_leq_portable(const uint8_t* q, const uint8_t* mask, const uint8_t* codes, size_t n,
                                       size_t nbytes, int32_t thr, uint32_t* idx, int32_t* dist, size_t start = 0) {
  size_t c = 0;
  if (nbytes == 8) {
    const uint64_t qv = load_u64(q), mv = load_u64(mask);
    for (size_t i = start; i < n; ++i) {
      const int32_t d = __builtin_popcountll((load_u64(codes + 8 * i) ^ qv) & mv);
      if (d <= thr) {
        idx[c] = static_cast<uint32_t>(i);
        dist[c++] = d;
      }
    }
    return c;
  }
  for (size_t i = start; i < n; ++i) {
    const int32_t d = masked_distance_any(q, codes + i * nbytes, mask, nbytes);
    if (d <= thr) {
      idx[c] = static_cast<uint32_t>(i);
      dist[c++] = d;
    }
  }
  return c;
}

inline int32_t lut_distance(const int32_t* lut, const uint8_t* q, const uint8_t* c, size_t nbytes) {
  int32_t d = 0;
  for (size_t p = 0; p < nbytes; ++p) d += lut[p * 256 + (q[p] ^ c[p])];
  return d;
}

inline size_t lut_scan_leq_portable(const WeightedPlan& plan, const uint8_t* q, const uint8_t* codes, size_t n,
                                    int32_t thr, uint32_t* idx, int32_t* dist, size_t start = 0) {
  const size_t nbytes = plan.nbytes;
  const int32_t* lut = plan.lut.data();
  size_t c = 0;
  if (nbytes == 8) {
    for (size_t i = start; i < n; ++i) {
      const uint64_t x = load_u64(codes + 8 * i) ^ load_u64(q);
      int32_t d = 0;
      for (int p = 0; p < 8; ++p) d += lut[p * 256 + ((x >> (8 * p)) & 0xFF)];
      if (d <= thr) {
        idx[c] = static_cast<uint32_t>(i);
        dist[c++] = d;
      }
    }
    return c;
  }
  for (size_t i = start; i < n; ++i) {
    const int32_t d = lut_distance(lut, q, codes + i * nbytes, nbytes);
    if (d <= thr) {
      idx[c] = static_cast<uint32_t>(i);
      dist[c++] = d;
    }
  }
  return c;
}

// The portable kernels with the signatures of the kernel table (WeightedKernels), for levels or
// forms without a vector version.
inline size_t masked_scan_leq_table(const uint8_t* q, const uint8_t* mask, const uint8_t* codes, size_t n,
                                    size_t nbytes, int32_t thr, uint32_t* idx, int32_t* dist) {
  return masked_scan_leq_portable(q, mask, codes, n, nbytes, thr, idx, dist);
}

inline size_t lut_scan_leq_table(const WeightedPlan& plan, const uint8_t* q, const uint8_t* codes, size_t n,
                                 int32_t thr, uint32_t* idx, int32_t* dist) {
  return lut_scan_leq_portable(plan, q, codes, n, thr, idx, dist);
}
