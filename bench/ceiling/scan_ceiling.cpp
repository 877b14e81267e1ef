// scan_ceiling: the popcount ceiling of a Hamming scan on this CPU and its memory bandwidth.
//
//   scan_ceiling [--bits 64,128,256] [--repeats 5] [--mem-mib 512]
//
// Prints one JSON object per line:
//   {"kind":"scan","level":..,"bits":..,"where":"L1"|"L2"|"mem","form":"cmp"|"min",
//    "gpairs_per_s":..,"gpairs_per_s_wall":..}   medians over --repeats timings, one thread,
//    per second of the thread's CPU time and of wall time;
//   {"kind":"bandwidth","threads":1|2,"gb_per_s":..,"gb_per_s_wall":..}   a streaming read of
//    --mem-mib MiB, per thread CPU time (summed over the threads) and per wall time.
// Levels above the CPU's (deephash::detected_simd_level) are skipped. tools/scan_ceiling.py runs
// this and prints the table beside the engine's FlatIndex times.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include "ceiling.hpp"
#include "deephash/simd.hpp"

namespace deephash_bench {
namespace {

// CPU time of the calling thread: on a shared machine, time slices given to other processes do
// not count (wall time is printed too).
double thread_seconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct Rate {
  double cpu, wall;  // per second of thread CPU time, of wall time (medians)
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::vector<uint64_t> random_words(size_t n, uint64_t seed) {
  std::vector<uint64_t> v(n);
  uint64_t x = seed;
  for (auto& w : v) {  // splitmix64
    x += 0x9E3779B97F4A7C15ull;
    uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    w = z ^ (z >> 31);
  }
  return v;
}

volatile uint64_t g_sink;  // keeps every result alive

// Pairs per second of one loop over `n` codes of `words` words, repeated `passes` times per timing.
Rate time_loop(CeilingLoop loop, const uint64_t* codes, size_t n, size_t words, size_t passes, int repeats,
               int32_t thr) {
  const std::vector<uint64_t> q = random_words(words, 7);
  std::vector<double> cpu, wall;
  for (int r = 0; r < repeats + 1; ++r) {
    const auto t = Clock::now();
    const double c = thread_seconds();
    uint64_t acc = 0;
    for (size_t p = 0; p < passes; ++p) acc += loop(codes, n, words, q.data(), thr);
    const double sc = thread_seconds() - c, sw = seconds_since(t);
    g_sink = acc;
    const double pairs = static_cast<double>(n) * static_cast<double>(passes);
    if (r > 0) {  // the first pass warms up
      cpu.push_back(pairs / sc);
      wall.push_back(pairs / sw);
    }
  }
  return {median(cpu), median(wall)};
}

// Bytes per second of a streaming read of `words` 64-bit words split between `threads` threads:
// per second of wall time, and the sum over the threads of their bytes per second of their own
// CPU time (what the threads would read together if each had its core; wall time also counts
// time slices given to other processes on a shared machine).
Rate bandwidth(const uint64_t* data, size_t words, int threads, int repeats) {
  auto read = [](const uint64_t* p, size_t n) {
    uint64_t a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (size_t i = 0; i + 8 <= n; i += 8)
      for (size_t j = 0; j < 8; ++j) a[j] ^= p[i + j];
    return a[0] ^ a[1] ^ a[2] ^ a[3] ^ a[4] ^ a[5] ^ a[6] ^ a[7];
  };
  const size_t part = words / static_cast<size_t>(threads);
  std::vector<double> cpu, wall;
  for (int r = 0; r < repeats + 1; ++r) {
    std::vector<uint64_t> out(static_cast<size_t>(threads));
    std::vector<double> secs(static_cast<size_t>(threads));
    const auto t = Clock::now();
    std::vector<std::thread> pool;
    for (int i = 0; i < threads; ++i)
      pool.emplace_back([&, i] {
        const double c = thread_seconds();
        out[static_cast<size_t>(i)] = read(data + static_cast<size_t>(i) * part, part);
        secs[static_cast<size_t>(i)] = thread_seconds() - c;
      });
    for (auto& th : pool) th.join();
    const double s = seconds_since(t);
    uint64_t acc = 0;
    for (uint64_t v : out) acc ^= v;
    g_sink = acc;
    if (r > 0) {
      double sum = 0;
      for (double sec : secs) sum += static_cast<double>(part * 8) / sec;
      cpu.push_back(sum);
      wall.push_back(static_cast<double>(part * static_cast<size_t>(threads) * 8) / s);
    }
  }
  return {median(cpu), median(wall)};
}

std::vector<size_t> parse_list(const char* s) {
  std::vector<size_t> v;
  std::string item;
  for (const char* p = s;; ++p) {
    if (*p == ',' || *p == '\0') {
      if (!item.empty()) v.push_back(std::stoul(item));
      item.clear();
      if (*p == '\0') break;
    } else {
      item += *p;
    }
  }
  return v;
}

int run(int argc, char** argv) {
  std::vector<size_t> bits = {64, 128, 256};
  int repeats = 5;
  size_t mem_mib = 512;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 < argc && a == "--bits") {
      bits = parse_list(argv[++i]);
    } else if (i + 1 < argc && a == "--repeats") {
      repeats = std::max(1, std::atoi(argv[++i]));
    } else if (i + 1 < argc && a == "--mem-mib") {
      mem_mib = std::max<size_t>(16, std::stoul(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: scan_ceiling [--bits 64,128,256] [--repeats 5] [--mem-mib 512]\n");
      return 2;
    }
  }
  for (size_t b : bits) {
    if (b != 64 && b != 128 && b != 256) {
      std::fprintf(stderr, "scan_ceiling: --bits takes 64, 128 or 256, got %zu\n", b);
      return 2;
    }
  }
  const deephash::SimdLevel top = deephash::detected_simd_level();
  std::vector<LevelLoops> levels = {scalar_loops()};
#if defined(DEEPHASH_BENCH_X86)
  if (top >= deephash::SimdLevel::avx2) levels.push_back(avx2_loops());
  if (top >= deephash::SimdLevel::avx512) levels.push_back(avx512_loops());
#endif
  const size_t mem_words = mem_mib * (size_t{1} << 20) / 8;
  const std::vector<uint64_t> mem = random_words(mem_words, 1);
  struct Where {
    const char* name;
    size_t bytes;
  };
  // 16 KiB stays in any L1d, 512 KiB in any L2 of the last decade; mem_mib exceeds the caches.
  const Where wheres[] = {{"L1", size_t{16} << 10}, {"L2", size_t{512} << 10}, {"mem", mem_words * 8}};
  for (const LevelLoops& L : levels) {
    for (size_t b : bits) {
      const size_t words = b / 64;
      const int32_t thr = static_cast<int32_t>(b / 4);  // random codes: almost never within
      for (const Where& w : wheres) {
        const size_t n = w.bytes / (8 * words) / 32 * 32;
        // About 2e7 pairs per timing in cache (a few ms), one pass from memory.
        const size_t passes = std::max<size_t>(1, size_t{20000000} / n);
        for (int f = 0; f < 2; ++f) {
          const Rate rate = time_loop(f == 0 ? L.cmp : L.min, mem.data(), n, words, passes, repeats, thr);
          std::printf(
              "{\"kind\":\"scan\",\"level\":\"%s\",\"bits\":%zu,\"where\":\"%s\",\"form\":\"%s\","
              "\"gpairs_per_s\":%.4f,\"gpairs_per_s_wall\":%.4f}\n",
              L.level, b, w.name, f == 0 ? "cmp" : "min", rate.cpu / 1e9, rate.wall / 1e9);
          std::fflush(stdout);
        }
      }
    }
  }
  for (int threads : {1, 2}) {
    const Rate bw = bandwidth(mem.data(), mem_words, threads, repeats);
    std::printf("{\"kind\":\"bandwidth\",\"threads\":%d,\"gb_per_s\":%.3f,\"gb_per_s_wall\":%.3f}\n", threads,
                bw.cpu / 1e9, bw.wall / 1e9);
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace
}  // namespace deephash_bench

int main(int argc, char** argv) {
  try {
    return deephash_bench::run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "scan_ceiling: %s\n", e.what());
    return 1;
  }
}
