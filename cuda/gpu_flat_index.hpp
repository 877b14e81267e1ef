// GpuFlatIndex: exact k-NN, range and weighted Hamming search on one CUDA device.
//
// Plain C++ API (no CUDA headers, no Python): the kernels live in cuda/*.cu, the pybind11
// bindings in python/bindings/cuda_bindings.cpp. Streams are passed as integers (cudaStream_t
// values; 0 = the legacy default stream); every call synchronises its stream before returning.
//
// Storage: codes are kept on the device sorted by (id, insertion order), each row padded with
// zero bytes to a multiple of 4 bytes. The position of a code in this order is therefore also its
// rank in the CPU FlatIndex tie order (distance, id, insertion position), so a single 64-bit key
// (distance << 32 | position) orders candidates exactly like the CPU index: results are identical.
// A consequence: codes()/ids() come back in id order, not insertion order.
//
// Thread safety: as the CPU indexes (deephash/flat_index.hpp): searches, range searches and
// copy_out share a reader-writer lock; add, remove and reserve take it exclusively, so every
// search sees one consistent state of the stored codes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "deephash/rw_lock.hpp"

namespace deephash {
namespace gpu {

// A CUDA call failed (driver, launch, or an invalid device).
class CudaError : public std::runtime_error {
 public:
  explicit CudaError(const std::string& what) : std::runtime_error(what) {}
};

// The device ran out of memory.
class DeviceOutOfMemory : public std::runtime_error {
 public:
  explicit DeviceOutOfMemory(const std::string& what) : std::runtime_error(what) {}
};

// Number of usable CUDA devices; 0 with a reason when there is none (no driver, no device...).
int device_count(std::string* reason = nullptr);
// "name (sm_XY, N GiB)" of a device.
std::string device_description(int device);
// Device ordinal of a CUDA pointer; -1 for host memory or an unknown pointer.
int pointer_device(const void* ptr);
// Largest k search() accepts on this device (limited by shared memory per block).
size_t max_k(int device);

// Where the pointers passed to a call live.
enum class Loc { host, device };

// Quantised weights (deephash::quantize_weights in the core: units and scale 2^e), host memory: rows == 0 unweighted, 1
// shared by all queries, or nq (one row per query). q is rows x bits, scale has rows entries.
struct QuantWeights {
  const uint32_t* q = nullptr;
  const double* scale = nullptr;
  size_t rows = 0;
};

// Range search results in device memory (owned by the caller once returned: free with
// free_device()). lims has nq + 1 entries; distances are int32 (unweighted) or float32 (weighted).
struct DeviceRange {
  int64_t* lims = nullptr;
  void* distances = nullptr;
  int64_t* ids = nullptr;
  size_t nq = 0;
  size_t total = 0;
};

void* alloc_device(size_t bytes, int device);
void free_device(void* ptr, int device) noexcept;
// Synchronous device-to-host copy (bytes may be 0).
void copy_to_host(void* dst, const void* src, size_t bytes, int device);

class GpuFlatIndex {
 public:
  GpuFlatIndex(size_t bits, int device);
  ~GpuFlatIndex();
  GpuFlatIndex(const GpuFlatIndex&) = delete;
  GpuFlatIndex& operator=(const GpuFlatIndex&) = delete;

  size_t bits() const { return bits_; }
  size_t code_size() const { return bits_ / 8; }
  size_t size() const;
  int device() const { return device_; }
  // Device bytes held for codes and ids (capacity included).
  size_t memory_bytes() const;
  void reserve(size_t n);

  // Adds n codes (n * code_size bytes at `codes`, host or device per loc). ids: host, n entries,
  // or null for size(), size() + 1, ... Throws InvalidArgument past 2^32 - 2 codes.
  void add(const uint8_t* codes, size_t n, const int64_t* ids, Loc loc, uintptr_t stream);
  // Removes every code whose id is listed (host ids); returns how many codes were removed.
  size_t remove(const int64_t* ids, size_t n, uintptr_t stream);
  // Copies the codes (size() * code_size bytes) and ids (size()) into host vectors, in storage
  // (id) order: one consistent state, sized under the same lock as the copy.
  void copy_out(std::vector<uint8_t>* codes, std::vector<int64_t>* ids, uintptr_t stream) const;

  // k nearest codes of nq queries. queries, distances and ids are all in `loc`. Unweighted:
  // int32 distances in `distances`; weighted: float32 distances in `fdistances`. Rows sorted by
  // (distance, id); padded with (2^31 - 1 or +inf, -1) when size() < k.
  void search(const uint8_t* queries, size_t nq, size_t k, const QuantWeights& w, int32_t* distances, float* fdistances,
              int64_t* ids, Loc loc, uintptr_t stream) const;

  // Every code with (quantised) distance <= radius[q] (host, nq entries, or 1 entry for all).
  // queries in `loc`; the results stay on the device (see DeviceRange).
  DeviceRange range_search(const uint8_t* queries, size_t nq, const int32_t* radius, size_t nradius,
                           const QuantWeights& w, Loc loc, uintptr_t stream) const;

 private:
  void ensure_capacity(size_t n, uintptr_t stream);  // caller holds the lock exclusively
  void adopt_storage(void* codes, void* ids, size_t cap);

  size_t bits_;
  int device_;
  int nw_;  // 32-bit words per stored (padded) code
  size_t size_ = 0;
  size_t capacity_ = 0;
  int64_t max_id_ = 0;  // largest id stored (ids are sorted: the last one)
  uint32_t* codes_ = nullptr;
  int64_t* ids_ = nullptr;
  mutable RwLock mu_;  // search, range_search, copy_out: shared; add, remove, reserve: exclusive
};

}  // namespace gpu
}  // namespace deephash
