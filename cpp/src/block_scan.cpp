// The work plan of the blocked scan (block_scan.hpp).
#include "block_scan.hpp"

#include "bits_util.hpp"

namespace deephash {
namespace block_scan {

size_t block_codes(size_t code_size) { return std::clamp<size_t>(kBlockBytes / code_size, 256, size_t{1} << 20); }

int job_threads(size_t nq, size_t n, size_t code_size) {
  // Small jobs are not worth starting threads for.
  if (static_cast<double>(nq) * static_cast<double>(n) * static_cast<double>(code_size) < kSmallJob) return 1;
  return get_num_threads();
}

Plan make_plan(size_t nq, size_t n, size_t code_size) {
  Plan p;
  p.threads = job_threads(nq, n, code_size);
  const size_t t = static_cast<size_t>(p.threads);
  p.group = std::clamp<size_t>(ceil_div(nq, t), 1, kMaxGroup);
  p.groups = ceil_div(nq, p.group);
  p.parts = 1;
  // Several parts per thread, handed out dynamically: a thread slowed by other work on its core
  // does not hold up the others.
  if (p.groups > 0 && p.groups < t) p.parts = std::clamp<size_t>(n / kMinPart, 1, 4 * t / p.groups);
  p.part = p.parts > 1 ? ceil_div(n, p.parts) : n;
  return p;
}

}  // namespace block_scan
}  // namespace deephash
