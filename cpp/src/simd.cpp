// Run-time choice of the SIMD level: detected once, capped by DEEPHASH_SIMD or set_simd_level().
#include "deephash/simd.hpp"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <initializer_list>

namespace deephash {
namespace {

SimdLevel detect() noexcept {
#if defined(DEEPHASH_HAVE_X86_KERNELS) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  // __builtin_cpu_supports also checks that the OS saves the wider registers (XCR0).
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vpopcntdq") &&
      __builtin_cpu_supports("avx512bitalg") && __builtin_cpu_supports("bmi2"))
    return SimdLevel::avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt") && __builtin_cpu_supports("bmi2"))
    return SimdLevel::avx2;
#endif
  return SimdLevel::scalar;
}

SimdLevel initial_level() noexcept {
  SimdLevel level = detected_simd_level();
  if (const char* env = std::getenv("DEEPHASH_SIMD")) {
    SimdLevel cap;
    if (parse_simd_level(env, &cap) && cap < level) level = cap;
  }
  return level;
}

std::atomic<int>& current_level() noexcept {
  static std::atomic<int> level{static_cast<int>(initial_level())};
  return level;
}

}  // namespace

SimdLevel detected_simd_level() noexcept {
  static const SimdLevel level = detect();
  return level;
}

SimdLevel simd_level() noexcept { return static_cast<SimdLevel>(current_level().load(std::memory_order_relaxed)); }

SimdLevel set_simd_level(SimdLevel cap) noexcept {
  SimdLevel level = cap < detected_simd_level() ? cap : detected_simd_level();
  current_level().store(static_cast<int>(level), std::memory_order_relaxed);
  return level;
}

const char* simd_level_name(SimdLevel level) noexcept {
  switch (level) {
    case SimdLevel::scalar: return "scalar";
    case SimdLevel::avx2: return "avx2";
    case SimdLevel::avx512: return "avx512";
  }
  return "unknown";
}

bool parse_simd_level(const char* name, SimdLevel* out) noexcept {
  if (name == nullptr) return false;
  for (SimdLevel l : {SimdLevel::scalar, SimdLevel::avx2, SimdLevel::avx512}) {
    if (std::strcmp(name, simd_level_name(l)) == 0) {
      *out = l;
      return true;
    }
  }
  return false;
}

}  // namespace deephash
