// SIMD level detection and the run-time choice of kernels.
#pragma once

namespace deephash {

// Instruction-set levels that kernels are compiled for. Higher is faster.
enum class SimdLevel : int {
  scalar = 0,  // portable C++ (on aarch64 the compiler emits NEON `cnt`)
  avx2 = 1,    // AVX2 + POPCNT (nibble-table popcount in vectors)
  avx512 = 2,  // AVX-512 F/BW/VL + VPOPCNTDQ
};

// Best level this CPU supports and this build contains.
SimdLevel detected_simd_level() noexcept;

// Level in use: detected level, capped by the environment variable
// DEEPHASH_SIMD=scalar|avx2|avx512 (read once) and by set_simd_level().
SimdLevel simd_level() noexcept;

// Caps the level in use (clamped to the detected level); returns the level now in use.
SimdLevel set_simd_level(SimdLevel cap) noexcept;

const char* simd_level_name(SimdLevel level) noexcept;

// Parses "scalar" / "avx2" / "avx512"; returns false if the name is unknown.
bool parse_simd_level(const char* name, SimdLevel* out) noexcept;

}  // namespace deephash
