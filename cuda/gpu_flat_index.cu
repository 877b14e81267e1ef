// GpuFlatIndex: device storage and the orchestration of the search kernels.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "deephash/errors.hpp"
#include "deephash/limits.hpp"
#include "gpu_common.cuh"
#include "gpu_flat_index.hpp"
#include "kernels.hpp"

namespace deephash {
namespace gpu {

namespace detail {

void check(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return;
  cudaGetLastError();  // clear a sticky-free error so later calls can proceed
  std::string msg = std::string("CUDA error: ") + cudaGetErrorString(err) + " (" + what + ")";
  if (err == cudaErrorMemoryAllocation) throw DeviceOutOfMemory(msg);
  throw CudaError(msg);
}

}  // namespace detail

using detail::as_stream;
using detail::kBlock;

namespace {

// Makes `device` current for the scope and restores the caller's device afterwards (PyTorch and
// CuPy keep their own notion of the current device).
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    DH_CUDA(cudaGetDevice(&prev_));
    if (prev_ != device) DH_CUDA(cudaSetDevice(device));
  }
  ~DeviceGuard() {
    int cur = -1;
    if (cudaGetDevice(&cur) == cudaSuccess && cur != prev_) cudaSetDevice(prev_);
  }

 private:
  int prev_ = 0;
};

// A per-device memory pool for the temporaries of searches: stream-ordered allocations that
// come back from the pool in microseconds (cudaMalloc/cudaFree cost tens of microseconds each and
// cudaFree synchronises the device, which would dominate a 1 ms single-query search). Up to
// 512 MiB stays cached between calls. Null where pools are unsupported (plain cudaMalloc then).
cudaMemPool_t workspace_pool(int device) {
  static std::mutex mu;
  static std::map<int, cudaMemPool_t> pools;
  std::lock_guard<std::mutex> lock(mu);
  auto it = pools.find(device);
  if (it != pools.end()) return it->second;
  cudaMemPool_t pool = nullptr;
  int supported = 0;
  if (cudaDeviceGetAttribute(&supported, cudaDevAttrMemoryPoolsSupported, device) == cudaSuccess && supported) {
    cudaMemPoolProps props{};
    props.allocType = cudaMemAllocationTypePinned;
    props.location.type = cudaMemLocationTypeDevice;
    props.location.id = device;
    if (cudaMemPoolCreate(&pool, &props) == cudaSuccess) {
      uint64_t keep = uint64_t{512} << 20;
      cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep);
    } else {
      pool = nullptr;
    }
  }
  cudaGetLastError();
  pools[device] = pool;
  return pool;
}

// Owned device allocation: plain (cudaMalloc) or stream-ordered from the workspace pool.
class DevBuf {
 public:
  DevBuf() = default;
  DevBuf(size_t bytes, int device) : device_(device) {
    if (bytes) ptr_ = alloc_device(bytes, device);
  }
  // Stream-ordered temporary: freed on `stream` after the work queued before the free.
  static DevBuf pooled(size_t bytes, int device, cudaStream_t stream) {
    cudaMemPool_t pool = workspace_pool(device);
    if (!pool || !bytes) return DevBuf(bytes, device);
    DevBuf b;
    b.device_ = device;
    b.stream_ = stream;
    b.pooled_ = true;
    const cudaError_t err = cudaMallocFromPoolAsync(&b.ptr_, bytes, pool, stream);
    if (err != cudaSuccess) {
      b.ptr_ = nullptr;
      cudaGetLastError();
      if (err == cudaErrorMemoryAllocation)
        throw DeviceOutOfMemory("CUDA device out of memory allocating " + std::to_string(bytes) + " bytes");
      detail::check(err, "cudaMallocFromPoolAsync");
    }
    return b;
  }
  ~DevBuf() { reset(); }
  DevBuf(DevBuf&& o) noexcept { *this = std::move(o); }
  DevBuf& operator=(DevBuf&& o) noexcept {
    if (this != &o) {
      reset();
      ptr_ = std::exchange(o.ptr_, nullptr);
      device_ = o.device_;
      stream_ = o.stream_;
      pooled_ = o.pooled_;
    }
    return *this;
  }
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }
  // Hands over a plain allocation (not a pooled one) to the caller.
  void* release() { return std::exchange(ptr_, nullptr); }
  void reset() {
    if (ptr_) {
      if (pooled_)
        cudaFreeAsync(ptr_, stream_);
      else
        free_device(ptr_, device_);
    }
    ptr_ = nullptr;
  }

 private:
  void* ptr_ = nullptr;
  int device_ = 0;
  cudaStream_t stream_ = nullptr;
  bool pooled_ = false;
};

template <typename T>
DevBuf upload(const T* host, size_t n, int device, cudaStream_t s, bool pooled = false) {
  DevBuf b = pooled ? DevBuf::pooled(n * sizeof(T), device, s) : DevBuf(n * sizeof(T), device);
  if (n) DH_CUDA(cudaMemcpyAsync(b.as<void>(), host, n * sizeof(T), cudaMemcpyHostToDevice, s));
  return b;
}

int sm_count(int device) {
  int v = 0;
  DH_CUDA(cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, device));
  return v > 0 ? v : 1;
}

// Nibble tables of quantised weights: per row, nw words x 8 nibbles x 16 values.
std::vector<uint32_t> nibble_tables(const QuantWeights& w, size_t bits, int nw) {
  const size_t row_len = static_cast<size_t>(nw) * 128;
  std::vector<uint32_t> t(w.rows * row_len, 0);
  for (size_t r = 0; r < w.rows; ++r) {
    const uint32_t* q = w.q + r * bits;
    uint32_t* out = t.data() + r * row_len;
    for (size_t nib = 0; nib < static_cast<size_t>(nw) * 8; ++nib) {
      for (uint32_t v = 0; v < 16; ++v) {
        uint32_t s = 0;
        for (int b = 0; b < 4; ++b) {
          const size_t j = nib * 4 + b;
          if (((v >> b) & 1u) && j < bits) s += q[j];
        }
        out[nib * 16 + v] = s;
      }
    }
  }
  return t;
}

// Number of database slices so that query tiles x slices fills the GPU several times over.
uint32_t plan_slices(size_t n, size_t qtiles, size_t min_slice, int sms, uint32_t* slice_len) {
  const size_t target = static_cast<size_t>(sms) * 8;
  size_t s = (target + qtiles - 1) / qtiles;
  s = std::min(s, (n + min_slice - 1) / min_slice);
  s = std::max<size_t>(s, 1);
  s = std::min<size_t>(s, 65535);
  size_t len = (n + s - 1) / s;
  len = (len + kBlock - 1) / kBlock * kBlock;
  if (len == 0) len = kBlock;
  *slice_len = static_cast<uint32_t>(len);
  return static_cast<uint32_t>((n + len - 1) / len);
}

}  // namespace

void* alloc_device(size_t bytes, int device) {
  (void)device;  // allocations happen under the caller's DeviceGuard
  void* p = nullptr;
  const cudaError_t err = cudaMalloc(&p, bytes);
  if (err != cudaSuccess) {
    cudaGetLastError();
    if (err == cudaErrorMemoryAllocation)
      throw DeviceOutOfMemory("CUDA device out of memory allocating " + std::to_string(bytes) + " bytes");
    detail::check(err, "cudaMalloc");
  }
  return p;
}

void free_device(void* ptr, int device) noexcept {
  if (!ptr) return;
  int cur = -1;
  const bool switch_dev = cudaGetDevice(&cur) == cudaSuccess && cur != device;
  if (switch_dev) cudaSetDevice(device);
  cudaFree(ptr);
  if (switch_dev) cudaSetDevice(cur);
}

void copy_to_host(void* dst, const void* src, size_t bytes, int device) {
  if (bytes == 0) return;
  DeviceGuard g(device);
  DH_CUDA(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
}

int device_count(std::string* reason) {
  int n = 0;
  const cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess) {
    cudaGetLastError();
    if (reason) {
      if (err == cudaErrorInsufficientDriver)
        *reason = "no NVIDIA driver (libcuda) found, or it is older than the CUDA runtime deephash was built with (" +
                  std::to_string(CUDART_VERSION / 1000) + "." + std::to_string(CUDART_VERSION % 1000 / 10) + ")";
      else
        *reason = cudaGetErrorString(err);
    }
    return 0;
  }
  if (n == 0 && reason) *reason = "no CUDA device found";
  return n;
}

std::string device_description(int device) {
  cudaDeviceProp p{};
  DH_CUDA(cudaGetDeviceProperties(&p, device));
  return std::string(p.name) + " (sm_" + std::to_string(p.major) + std::to_string(p.minor) + ", " +
         std::to_string(p.totalGlobalMem >> 30) + " GiB)";
}

int pointer_device(const void* ptr) {
  cudaPointerAttributes attr{};
  if (cudaPointerGetAttributes(&attr, ptr) != cudaSuccess) {
    cudaGetLastError();
    return -1;
  }
  if (attr.type == cudaMemoryTypeDevice || attr.type == cudaMemoryTypeManaged) return attr.device;
  return -1;
}

size_t max_k(int device) {
  int optin = 0;
  DH_CUDA(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  return detail::knn_max_k(static_cast<size_t>(optin));
}

GpuFlatIndex::GpuFlatIndex(size_t bits, int device)
    : bits_(bits), device_(device), nw_(static_cast<int>((bits / 8 + 3) / 4)) {
  check_bits(bits);
  std::string reason;
  const int n = device_count(&reason);
  if (n == 0) throw CudaError(reason);
  if (device < 0 || device >= n)
    throw InvalidArgument("device must be in [0, " + std::to_string(n) + "), got " + std::to_string(device));
  DeviceGuard g(device_);
  DH_CUDA(cudaFree(nullptr));  // create the context now so that errors surface here
}

GpuFlatIndex::~GpuFlatIndex() {
  free_device(codes_, device_);
  free_device(ids_, device_);
}

size_t GpuFlatIndex::size() const {
  ReadLock lock(mu_);
  return size_;
}

size_t GpuFlatIndex::memory_bytes() const {
  ReadLock lock(mu_);
  return capacity_ * (static_cast<size_t>(nw_) * 4 + 8);
}

void GpuFlatIndex::reserve(size_t n) {
  WriteLock lock(mu_);
  DeviceGuard g(device_);
  ensure_capacity(n, 0);
  DH_CUDA(cudaStreamSynchronize(nullptr));
}

void GpuFlatIndex::ensure_capacity(size_t n, uintptr_t stream) {
  if (n <= capacity_) return;
  const size_t cap = std::max(n, capacity_ + capacity_ / 2);
  const cudaStream_t s = as_stream(stream);
  DevBuf codes(cap * nw_ * 4, device_), ids(cap * 8, device_);
  if (size_) {
    DH_CUDA(cudaMemcpyAsync(codes.as<void>(), codes_, size_ * nw_ * 4, cudaMemcpyDeviceToDevice, s));
    DH_CUDA(cudaMemcpyAsync(ids.as<void>(), ids_, size_ * 8, cudaMemcpyDeviceToDevice, s));
  }
  DH_CUDA(cudaStreamSynchronize(s));
  adopt_storage(codes.release(), ids.release(), cap);
}

// Frees the current device buffers and takes ownership of codes and ids (plain allocations of
// capacity cap). The caller has synchronised the stream that filled them.
void GpuFlatIndex::adopt_storage(void* codes, void* ids, size_t cap) {
  free_device(codes_, device_);
  free_device(ids_, device_);
  codes_ = static_cast<uint32_t*>(codes);
  ids_ = static_cast<int64_t*>(ids);
  capacity_ = cap;
}

void GpuFlatIndex::add(const uint8_t* codes, size_t n, const int64_t* ids, Loc loc, uintptr_t stream) {
  if (n == 0) return;
  WriteLock lock(mu_);
  if (size_ + n > 0xFFFFFFFEull)
    throw InvalidArgument("a GpuFlatIndex holds at most 2^32 - 2 codes (positions are 32-bit)");
  DeviceGuard g(device_);
  const cudaStream_t s = as_stream(stream);
  const size_t cs = code_size();
  std::vector<int64_t> hid(n);
  if (ids)
    std::memcpy(hid.data(), ids, n * 8);
  else
    std::iota(hid.begin(), hid.end(), static_cast<int64_t>(size_));
  const bool sorted = std::is_sorted(hid.begin(), hid.end());

  DevBuf raw;
  const uint8_t* src = codes;
  if (loc == Loc::host) {
    raw = upload(codes, n * cs, device_, s);
    src = raw.as<uint8_t>();
  }
  DevBuf padded(n * nw_ * 4, device_);
  detail::pad_rows(src, n, cs, nw_, padded.as<uint32_t>(), s);
  if (!sorted) {
    std::vector<uint32_t> perm(n);
    std::iota(perm.begin(), perm.end(), 0u);
    std::stable_sort(perm.begin(), perm.end(), [&](uint32_t a, uint32_t b) { return hid[a] < hid[b]; });
    std::vector<int64_t> sid(n);
    for (size_t i = 0; i < n; ++i) sid[i] = hid[perm[i]];
    hid.swap(sid);
    DevBuf perm_dev = upload(perm.data(), n, device_, s);
    DevBuf gathered(n * nw_ * 4, device_);
    detail::gather_rows(padded.as<uint32_t>(), perm_dev.as<uint32_t>(), gathered.as<uint32_t>(), n, nw_, s);
    DH_CUDA(cudaStreamSynchronize(s));  // perm_dev and padded die at the end of this scope
    padded = std::move(gathered);
  }
  DevBuf new_ids = upload(hid.data(), n, device_, s);
  if (size_ == 0 || hid.front() >= max_id_) {
    // Every new id sorts after the stored ones (the usual case): append.
    ensure_capacity(size_ + n, stream);
    DH_CUDA(cudaMemcpyAsync(codes_ + size_ * nw_, padded.as<void>(), n * nw_ * 4, cudaMemcpyDeviceToDevice, s));
    DH_CUDA(cudaMemcpyAsync(ids_ + size_, new_ids.as<void>(), n * 8, cudaMemcpyDeviceToDevice, s));
  } else {
    const size_t total = size_ + n;
    const size_t cap = std::max(total, capacity_);
    DevBuf dst_codes(cap * nw_ * 4, device_), dst_ids(cap * 8, device_);
    detail::merge_sorted(codes_, ids_, size_, padded.as<uint32_t>(), new_ids.as<int64_t>(), n, nw_,
                         dst_codes.as<uint32_t>(), dst_ids.as<int64_t>(), s);
    DH_CUDA(cudaStreamSynchronize(s));
    adopt_storage(dst_codes.release(), dst_ids.release(), cap);
  }
  DH_CUDA(cudaStreamSynchronize(s));
  max_id_ = size_ == 0 ? hid.back() : std::max(max_id_, hid.back());
  size_ += n;
}

size_t GpuFlatIndex::remove(const int64_t* ids, size_t n, uintptr_t stream) {
  WriteLock lock(mu_);
  if (n == 0 || size_ == 0) return 0;
  DeviceGuard g(device_);
  const cudaStream_t s = as_stream(stream);
  std::vector<int64_t> r(ids, ids + n);
  std::sort(r.begin(), r.end());
  r.erase(std::unique(r.begin(), r.end()), r.end());
  DevBuf r_dev = upload(r.data(), r.size(), device_, s);
  DevBuf lo_dev(r.size() * 4, device_), hi_dev(r.size() * 4, device_);
  detail::find_id_ranges(ids_, size_, r_dev.as<int64_t>(), r.size(), lo_dev.as<uint32_t>(), hi_dev.as<uint32_t>(), s);
  std::vector<uint32_t> lo(r.size()), hi(r.size());
  DH_CUDA(cudaMemcpyAsync(lo.data(), lo_dev.as<void>(), r.size() * 4, cudaMemcpyDeviceToHost, s));
  DH_CUDA(cudaMemcpyAsync(hi.data(), hi_dev.as<void>(), r.size() * 4, cudaMemcpyDeviceToHost, s));
  DH_CUDA(cudaStreamSynchronize(s));
  std::vector<uint32_t> rlo, rhi;
  std::vector<uint64_t> cum;
  uint64_t removed = 0;
  for (size_t i = 0; i < r.size(); ++i) {
    if (hi[i] > lo[i]) {  // ids are distinct, so the ranges are disjoint and ascending
      rlo.push_back(lo[i]);
      rhi.push_back(hi[i]);
      cum.push_back(removed);
      removed += hi[i] - lo[i];
    }
  }
  if (removed == 0) return 0;
  const size_t keep = size_ - removed;
  DevBuf rlo_dev = upload(rlo.data(), rlo.size(), device_, s);
  DevBuf rhi_dev = upload(rhi.data(), rhi.size(), device_, s);
  DevBuf cum_dev = upload(cum.data(), cum.size(), device_, s);
  const size_t cap = std::max<size_t>(keep, 1);
  DevBuf dst_codes(cap * nw_ * 4, device_), dst_ids(cap * 8, device_);
  detail::compact_ranges(codes_, ids_, size_, nw_, rlo_dev.as<uint32_t>(), rhi_dev.as<uint32_t>(),
                         cum_dev.as<uint64_t>(), rlo.size(), dst_codes.as<uint32_t>(), dst_ids.as<int64_t>(), s);
  DH_CUDA(cudaStreamSynchronize(s));
  adopt_storage(dst_codes.release(), dst_ids.release(), cap);
  size_ = keep;
  if (size_) {
    DH_CUDA(cudaMemcpy(&max_id_, ids_ + size_ - 1, 8, cudaMemcpyDeviceToHost));
  }
  return removed;
}

void GpuFlatIndex::copy_out(std::vector<uint8_t>* codes, std::vector<int64_t>* ids, uintptr_t stream) const {
  ReadLock lock(mu_);
  codes->resize(size_ * code_size());
  ids->resize(size_);
  if (size_ == 0) return;
  DeviceGuard g(device_);
  const cudaStream_t s = as_stream(stream);
  DH_CUDA(cudaMemcpy2DAsync(codes->data(), code_size(), codes_, static_cast<size_t>(nw_) * 4, code_size(), size_,
                            cudaMemcpyDeviceToHost, s));
  DH_CUDA(cudaMemcpyAsync(ids->data(), ids_, size_ * 8, cudaMemcpyDeviceToHost, s));
  DH_CUDA(cudaStreamSynchronize(s));
}

void GpuFlatIndex::search(const uint8_t* queries, size_t nq, size_t k, const QuantWeights& w, int32_t* distances,
                          float* fdistances, int64_t* ids, Loc loc, uintptr_t stream) const {
  if (nq == 0) return;
  ReadLock lock(mu_);
  DeviceGuard g(device_);
  const size_t kmax = max_k(device_);
  if (k == 0 || k > kmax)
    throw InvalidArgument("k must be in [1, " + std::to_string(kmax) + "] on this device, got " + std::to_string(k));
  const bool weighted = w.rows > 0;
  if (weighted && w.rows != 1 && w.rows != nq) throw InvalidArgument("weights must have 1 or nq rows");
  const cudaStream_t s = as_stream(stream);
  const size_t cs = code_size();

  DevBuf qbuf;
  const uint8_t* dq = queries;
  if (loc == Loc::host) {
    qbuf = upload(queries, nq * cs, device_, s, true);
    dq = qbuf.as<uint8_t>();
  }
  DevBuf tabs, scales;
  size_t tab_stride = 0;
  if (weighted) {
    const std::vector<uint32_t> t = nibble_tables(w, bits_, nw_);
    tabs = upload(t.data(), t.size(), device_, s, true);
    scales = upload(w.scale, w.rows, device_, s, true);
    tab_stride = w.rows > 1 ? static_cast<size_t>(nw_) * 128 : 0;
  }
  DevBuf out_d, out_i;
  int32_t* dd = distances;
  float* df = fdistances;
  int64_t* di = ids;
  if (loc == Loc::host) {
    out_d = DevBuf::pooled(nq * k * 4, device_, s);
    out_i = DevBuf::pooled(nq * k * 8, device_, s);
    dd = weighted ? nullptr : out_d.as<int32_t>();
    df = weighted ? out_d.as<float>() : nullptr;
    di = out_i.as<int64_t>();
  }

  const int sms = sm_count(device_);
  const int qt_max = detail::scan_tile_queries(k);
  int optin = 0;
  DH_CUDA(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device_));
  int tile = qt_max;
  while (tile > 1 && detail::scan_smem_bytes(tile, k, nw_) > static_cast<size_t>(optin)) tile /= 2;
  if (detail::scan_smem_bytes(tile, k, nw_) > static_cast<size_t>(optin))
    throw InvalidArgument("k = " + std::to_string(k) + " does not fit this device's shared memory for " +
                          std::to_string(bits_) + "-bit codes");
  const size_t min_slice = std::max<size_t>(16 * kBlock, (4 * k + kBlock - 1) / kBlock * kBlock);
  const size_t ws_cap = size_t{256} << 20;  // workspace bytes per batch of queries

  for (size_t qs = 0; qs < nq;) {
    size_t batch = nq - qs;
    uint32_t slice_len = kBlock, nslices = 0;
    for (;;) {
      nslices = size_ ? plan_slices(size_, (batch + tile - 1) / tile, min_slice, sms, &slice_len) : 0;
      if (batch * nslices * k * 8 <= ws_cap || batch <= static_cast<size_t>(tile)) break;
      batch = std::max<size_t>(tile, batch / 2);
    }
    batch = std::min<size_t>(batch, 65535u * 16u);
    DevBuf ws, gb;
    if (nslices) {
      ws = DevBuf::pooled(batch * nslices * k * 8, device_, s);
      gb = DevBuf::pooled(batch * 4, device_, s);
      DH_CUDA(cudaMemsetAsync(gb.as<void>(), 0xFF, batch * 4, s));
      detail::ScanArgs a{};
      a.codes = codes_;
      a.n = static_cast<uint32_t>(size_);
      a.nw = nw_;
      a.queries = dq + qs * cs;
      a.code_size = cs;
      a.nq = batch;
      a.k = static_cast<int>(k);
      a.tile = tile;
      a.slice_len = slice_len;
      a.nslices = static_cast<int>(nslices);
      a.tabs = weighted ? tabs.as<uint32_t>() + qs * tab_stride : nullptr;
      a.tab_stride = tab_stride;
      a.gbound = gb.as<uint32_t>();
      a.out = ws.as<uint64_t>();
      detail::run_scan(a, weighted, s);
    }
    detail::MergeArgs m{};
    m.keys = ws.as<uint64_t>();
    m.nkeys = static_cast<size_t>(nslices) * k;
    m.nq = batch;
    m.k = static_cast<int>(k);
    m.gbound = nslices ? gb.as<uint32_t>() : nullptr;
    m.ids = ids_;
    m.dist = dd ? dd + qs * k : nullptr;
    m.fdist = df ? df + qs * k : nullptr;
    m.scales = weighted ? scales.as<double>() + (w.rows > 1 ? qs : 0) : nullptr;
    m.scale_stride = w.rows > 1 ? 1 : 0;
    m.out_ids = di + qs * k;
    detail::run_merge(m, s);
    DH_CUDA(cudaStreamSynchronize(s));  // ws and gb are freed at the end of this iteration
    qs += batch;
  }
  if (loc == Loc::host) {
    if (weighted)
      DH_CUDA(cudaMemcpyAsync(fdistances, df, nq * k * 4, cudaMemcpyDeviceToHost, s));
    else
      DH_CUDA(cudaMemcpyAsync(distances, dd, nq * k * 4, cudaMemcpyDeviceToHost, s));
    DH_CUDA(cudaMemcpyAsync(ids, di, nq * k * 8, cudaMemcpyDeviceToHost, s));
  }
  DH_CUDA(cudaStreamSynchronize(s));
}

DeviceRange GpuFlatIndex::range_search(const uint8_t* queries, size_t nq, const int32_t* radius, size_t nradius,
                                       const QuantWeights& w, Loc loc, uintptr_t stream) const {
  ReadLock lock(mu_);
  DeviceGuard g(device_);
  const bool weighted = w.rows > 0;
  if (weighted && w.rows != 1 && w.rows != nq) throw InvalidArgument("weights must have 1 or nq rows");
  if (nradius != 1 && nradius != nq) throw InvalidArgument("radius must have 1 or nq entries");
  const cudaStream_t s = as_stream(stream);
  const size_t cs = code_size();
  std::vector<uint32_t> rad(nq);
  for (size_t q = 0; q < nq; ++q) {
    const int32_t r = radius[nradius == 1 ? 0 : q];
    rad[q] = r < 0 ? 0u : static_cast<uint32_t>(r);
  }
  std::vector<int64_t> lims(nq + 1, 0);
  DevBuf keys;
  size_t total = 0;
  DevBuf tabs, scales;
  if (nq && size_) {
    DevBuf qbuf;
    const uint8_t* dq = queries;
    if (loc == Loc::host) {
      qbuf = upload(queries, nq * cs, device_, s, true);
      dq = qbuf.as<uint8_t>();
    }
    size_t tab_stride = 0;
    if (weighted) {
      const std::vector<uint32_t> t = nibble_tables(w, bits_, nw_);
      tabs = upload(t.data(), t.size(), device_, s, true);
      scales = upload(w.scale, w.rows, device_, s, true);
      tab_stride = w.rows > 1 ? static_cast<size_t>(nw_) * 128 : 0;
    }
    DevBuf rad_dev = upload(rad.data(), nq, device_, s, true);
    const size_t qtiles = (nq + detail::kRangeTile - 1) / detail::kRangeTile;
    if (qtiles > 0x7FFFFFFFu) throw InvalidArgument("too many queries");
    uint32_t slice_len = kBlock;
    const uint32_t nslices = plan_slices(size_, qtiles, 16 * kBlock, sm_count(device_), &slice_len);
    DevBuf counts = DevBuf::pooled(nq * nslices * 4, device_, s);
    detail::RangeArgs a{};
    a.codes = codes_;
    a.n = static_cast<uint32_t>(size_);
    a.nw = nw_;
    a.queries = dq;
    a.code_size = cs;
    a.nq = nq;
    a.radius = rad_dev.as<uint32_t>();
    a.slice_len = slice_len;
    a.nslices = static_cast<int>(nslices);
    a.tabs = tabs.as<uint32_t>();
    a.tab_stride = tab_stride;
    a.counts = counts.as<uint32_t>();
    detail::run_range(a, weighted, false, s);
    std::vector<uint32_t> hc(nq * nslices);
    DH_CUDA(cudaMemcpyAsync(hc.data(), counts.as<void>(), hc.size() * 4, cudaMemcpyDeviceToHost, s));
    DH_CUDA(cudaStreamSynchronize(s));
    std::vector<int64_t> offsets(nq * nslices);
    int64_t run = 0;
    for (size_t q = 0; q < nq; ++q) {
      lims[q] = run;
      for (uint32_t sl = 0; sl < nslices; ++sl) {
        offsets[q * nslices + sl] = run;
        run += hc[q * nslices + sl];
      }
    }
    lims[nq] = run;
    total = static_cast<size_t>(run);
    if (total) {
      DevBuf off_dev = upload(offsets.data(), offsets.size(), device_, s, true);
      keys = DevBuf::pooled(total * 8, device_, s);
      a.offsets = off_dev.as<int64_t>();
      a.keys = keys.as<uint64_t>();
      detail::run_range(a, weighted, true, s);
      DH_CUDA(cudaStreamSynchronize(s));
    }
  }
  DevBuf lims_dev = upload(lims.data(), nq + 1, device_, s);
  DevBuf dist(std::max<size_t>(total, 1) * 4, device_), ids(std::max<size_t>(total, 1) * 8, device_);
  if (total) {
    {
      DevBuf tmp = DevBuf::pooled(total * 8, device_, s);
      detail::sort_range_keys(keys.as<uint64_t>(), tmp.as<uint64_t>(), total, lims_dev.as<int64_t>(), nq, device_, s);
    }
    detail::keys_to_results(keys.as<uint64_t>(), total, lims_dev.as<int64_t>(), nq, ids_,
                            weighted ? nullptr : dist.as<int32_t>(), weighted ? dist.as<float>() : nullptr,
                            scales.as<double>(), w.rows > 1 ? 1 : 0, ids.as<int64_t>(), s);
  }
  DH_CUDA(cudaStreamSynchronize(s));
  DeviceRange out;
  out.nq = nq;
  out.total = total;
  out.lims = static_cast<int64_t*>(lims_dev.release());
  out.distances = dist.release();
  out.ids = static_cast<int64_t*>(ids.release());
  (void)loc;
  return out;
}

}  // namespace gpu
}  // namespace deephash
