// Minimal CPU emulation of the CUDA features the deephash k-NN kernels use (verification only).
#pragma once
#include <atomic>
#include <barrier>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>
#include <algorithm>
#include <memory>
#include <mutex>
#include <cstdio>
#include <cstdlib>
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(x)
#define __shared__
#define __align__(x) alignas(x)
#define __restrict__ __restrict
struct dim3 { unsigned x = 1, y = 1, z = 1; dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {} };
struct uint4 { unsigned x, y, z, w; };
struct uint2 { unsigned x, y; };
// One emulated device shared by every host thread: the allocation table and the launch state
// (shared memory, barriers, block dimensions) are global, so both are serialised.
inline std::mutex g_alloc_mu, g_launch_mu;
inline thread_local dim3 threadIdx, blockIdx;
inline dim3 blockDim, gridDim;
inline std::barrier<>* g_barrier = nullptr;
inline std::vector<std::barrier<>*> g_warp_bars;
inline void __syncthreads() { g_barrier->arrive_and_wait(); }
// Barrier that returns whether any thread's predicate is true. Call k uses flag k % 3; the flag
// of call k + 1 is cleared before call k's barrier (its last readers passed call k - 1's barrier).
inline std::atomic<int> g_or_flags[3];
inline thread_local unsigned g_or_calls = 0;
inline int __syncthreads_or(int pred) {
  const unsigned c = g_or_calls++;
  if (threadIdx.x == 0) g_or_flags[(c + 1) % 3].store(0);
  if (pred) g_or_flags[c % 3].store(1);
  g_barrier->arrive_and_wait();
  return g_or_flags[c % 3].load();
}
alignas(16) inline unsigned char smem[1 << 21];
inline int atomicAdd(int* p, int v) { return std::atomic_ref<int>(*p).fetch_add(v); }
inline unsigned atomicAdd(unsigned* p, unsigned v) { return std::atomic_ref<unsigned>(*p).fetch_add(v); }
inline unsigned atomicMin(unsigned* p, unsigned v) {
  std::atomic_ref<unsigned> a(*p); unsigned old = a.load();
  while (v < old && !a.compare_exchange_weak(old, v)) {}
  return old;
}
inline int __popc(unsigned x) { return __builtin_popcount(x); }
template <typename T> inline T __ldg(const T* p) { return *p; }
inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
inline int min(int a, int b) { return a < b ? a : b; }
typedef int cudaError_t;
typedef void* cudaStream_t;
constexpr int cudaSuccess = 0;
constexpr int cudaFuncAttributeMaxDynamicSharedMemorySize = 8;
inline cudaError_t cudaGetLastError() { return 0; }
template <typename F> inline cudaError_t cudaFuncSetAttribute(F, int, int) { return 0; }
inline const char* cudaGetErrorString(cudaError_t) { return "emu"; }
template <typename K, typename... A>
void emu_launch(K kernel, dim3 grid, dim3 block, size_t smem_bytes, cudaStream_t, A... args) {
  if (smem_bytes > sizeof(smem)) { fprintf(stderr, "smem too big %zu\n", smem_bytes); abort(); }
  std::lock_guard<std::mutex> lock(g_launch_mu);
  blockDim = block; gridDim = grid;
  for (unsigned by = 0; by < grid.y; ++by)
    for (unsigned bx = 0; bx < grid.x; ++bx) {
      std::memset(smem, 0xCD, smem_bytes);  // garbage, as on a GPU
      std::barrier<> bar(block.x);
      g_barrier = &bar;
      for (auto& f : g_or_flags) f.store(0);
      std::vector<std::unique_ptr<std::barrier<>>> wb;
      g_warp_bars.clear();
      for (unsigned w = 0; w < (block.x + 31) / 32; ++w) { wb.emplace_back(new std::barrier<>(32)); g_warp_bars.push_back(wb.back().get()); }
      std::vector<std::thread> ts;
      for (unsigned t = 0; t < block.x; ++t)
        ts.emplace_back([&, t] { threadIdx = dim3(t); blockIdx = dim3(bx, by); kernel(args...); });
      for (auto& th : ts) th.join();
    }
}

// ---- warp shuffles ----
inline unsigned g_warp_slots[1024];
inline unsigned __shfl_down_sync(unsigned, unsigned v, int off) {
  const unsigned t = threadIdx.x, lane = t & 31, w = t >> 5;
  g_warp_slots[t] = v;
  g_warp_bars[w]->arrive_and_wait();
  const unsigned r = lane + off < 32 ? g_warp_slots[t + off] : v;
  g_warp_bars[w]->arrive_and_wait();
  return r;
}

// ---- runtime API on host memory ----
#define CUDART_VERSION 13000
enum cudaMemcpyKind { cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice };
constexpr int cudaErrorMemoryAllocation = 2, cudaErrorInsufficientDriver = 35;
enum cudaDeviceAttr { cudaDevAttrMultiProcessorCount, cudaDevAttrMaxSharedMemoryPerBlockOptin };
enum cudaMemoryType { cudaMemoryTypeUnregistered, cudaMemoryTypeHost, cudaMemoryTypeDevice, cudaMemoryTypeManaged };
struct cudaPointerAttributes { cudaMemoryType type; int device; };
struct cudaDeviceProp { char name[256]; int major, minor; size_t totalGlobalMem; };
inline std::vector<std::pair<char*, size_t>> g_allocs;
inline cudaError_t cudaMalloc(void** p, size_t n) {
  std::lock_guard<std::mutex> lock(g_alloc_mu);
  *p = aligned_alloc(256, (n + 255) / 256 * 256);
  std::memset(*p, 0xAB, n);
  g_allocs.push_back({(char*)*p, n});
  return 0;
}
inline cudaError_t cudaFree(void* p) {
  if (!p) return 0;
  std::lock_guard<std::mutex> lock(g_alloc_mu);
  for (size_t i = 0; i < g_allocs.size(); ++i) if (g_allocs[i].first == p) { g_allocs.erase(g_allocs.begin() + i); free(p); return 0; }
  fprintf(stderr, "cudaFree of unknown pointer\n"); abort();
}
inline cudaError_t cudaMemcpyAsync(void* d, const void* s, size_t n, cudaMemcpyKind, cudaStream_t) { if (n) std::memcpy(d, s, n); return 0; }
inline cudaError_t cudaMemcpy(void* d, const void* s, size_t n, cudaMemcpyKind) { if (n) std::memcpy(d, s, n); return 0; }
inline cudaError_t cudaMemcpy2DAsync(void* d, size_t dp, const void* s, size_t sp, size_t w, size_t h, cudaMemcpyKind, cudaStream_t) {
  for (size_t r = 0; r < h; ++r) std::memcpy((char*)d + r * dp, (const char*)s + r * sp, w);
  return 0;
}
inline cudaError_t cudaMemsetAsync(void* d, int v, size_t n, cudaStream_t) { std::memset(d, v, n); return 0; }
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return 0; }
inline cudaError_t cudaGetDeviceCount(int* n) { *n = 1; return 0; }
inline cudaError_t cudaGetDevice(int* d) { *d = 0; return 0; }
inline cudaError_t cudaSetDevice(int) { return 0; }
inline cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr a, int) {
  *v = a == cudaDevAttrMultiProcessorCount ? 132 : a == cudaDevAttrMaxSharedMemoryPerBlockOptin ? 232448 : 1; return 0;
}
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int) {
  std::strcpy(p->name, "CPU emulation"); p->major = 9; p->minor = 0; p->totalGlobalMem = size_t(80) << 30; return 0;
}
inline cudaError_t cudaPointerGetAttributes(cudaPointerAttributes* a, const void* p) {
  a->type = cudaMemoryTypeUnregistered; a->device = -1;
  std::lock_guard<std::mutex> lock(g_alloc_mu);
  for (auto& al : g_allocs) if ((const char*)p >= al.first && (const char*)p < al.first + al.second) { a->type = cudaMemoryTypeDevice; a->device = 0; }
  return 0;
}
// Kernels without barriers or shuffles: every thread in turn, on this thread.
template <typename K, typename... A>
void emu_launch_seq(K kernel, dim3 grid, dim3 block, size_t, cudaStream_t, A... args) {
  std::lock_guard<std::mutex> lock(g_launch_mu);
  blockDim = block; gridDim = grid;
  for (unsigned by = 0; by < grid.y; ++by)
    for (unsigned bx = 0; bx < grid.x; ++bx)
      for (unsigned t = 0; t < block.x; ++t) { threadIdx = dim3(t); blockIdx = dim3(bx, by); kernel(args...); }
}

// ---- stream-ordered memory pools (plain host allocations here) ----
typedef struct EmuPool* cudaMemPool_t;
enum cudaMemAllocationType { cudaMemAllocationTypePinned = 1 };
enum cudaMemLocationType { cudaMemLocationTypeDevice = 1 };
struct cudaMemLocation { cudaMemLocationType type; int id; };
struct cudaMemPoolProps { cudaMemAllocationType allocType; int handleTypes; cudaMemLocation location; };
enum cudaMemPoolAttr { cudaMemPoolAttrReleaseThreshold = 4 };
constexpr cudaDeviceAttr cudaDevAttrMemoryPoolsSupported = static_cast<cudaDeviceAttr>(115);
inline cudaError_t cudaMemPoolCreate(cudaMemPool_t* p, const cudaMemPoolProps*) { *p = reinterpret_cast<cudaMemPool_t>(0x1); return 0; }
inline cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t, cudaMemPoolAttr, void*) { return 0; }
inline cudaError_t cudaMallocFromPoolAsync(void** p, size_t n, cudaMemPool_t, cudaStream_t) { return cudaMalloc(p, n); }
inline cudaError_t cudaFreeAsync(void* p, cudaStream_t) { return cudaFree(p); }
