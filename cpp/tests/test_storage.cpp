// C++ test of the storage rules: adding from the index's own buffer, snapshots that outlive
// adds, removes and the unmapping of a loaded file (copy-on-write), the limits (bits, k).
// Meant to run under AddressSanitizer too (tools/test.sh): a use-after-free fails it there.
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "check.hpp"
#include "deephash/deephash.hpp"

using namespace deephash;

static std::vector<uint8_t> random_codes(std::mt19937_64& rng, size_t n, size_t nb) {
  std::vector<uint8_t> c(n * nb);
  for (auto& x : c) x = static_cast<uint8_t>(rng());
  return c;
}

static bool same(const CodeStore::Snapshot& s, const std::vector<uint8_t>& codes, const std::vector<int64_t>& ids,
                 size_t nb) {
  return s.size == ids.size() && std::equal(ids.begin(), ids.end(), s.ids) &&
         std::equal(codes.begin(), codes.end(), s.codes) && codes.size() == s.size * nb;
}

template <class Index>
static void test_self_add_and_snapshots(Index& index, std::mt19937_64& rng, const std::string& tmp) {
  const size_t nb = index.code_size(), n = 20000;
  auto codes = random_codes(rng, n, nb);
  index.add(codes.data(), n, nullptr);
  // Source inside the index's own buffer, no snapshot held: the buffer must outlive the copy.
  // (The view's read lock ends with the full expression, before add takes the write lock.)
  const uint8_t* own = index.scan_view().codes;
  index.add(own, n / 2, nullptr);
  CodeStore::Snapshot s = index.snapshot();
  CHECK(s.size == n + n / 2);
  CHECK(std::equal(codes.begin(), codes.begin() + (n / 2) * nb, s.codes + n * nb));
  std::vector<uint8_t> seen(s.codes, s.codes + s.size * nb);
  std::vector<int64_t> seen_ids(s.ids, s.ids + s.size);
  for (int i = 0; i < 3; ++i) {  // reallocations
    auto more = random_codes(rng, n, nb);
    index.add(more.data(), n, nullptr);
  }
  std::vector<int64_t> drop;
  for (int64_t id = 0; id < static_cast<int64_t>(4 * n); id += 3) drop.push_back(id);
  CHECK(index.remove(drop.data(), drop.size()) > 0);  // compaction while a snapshot lives
  CHECK(same(s, seen, seen_ids, nb));
  // Removing by ids read from the index's own buffer.
  CodeStore::Snapshot t = index.snapshot();
  const size_t before = t.size;
  CHECK(index.remove(t.ids, before / 2) == before / 2);
  t = CodeStore::Snapshot();
  CHECK(index.size() == before - before / 2);
  // A memory-mapped load: the first add unmaps the file unless a snapshot holds the mapping.
  index.save(tmp);
  Index mapped = Index::load(tmp, true);
  CodeStore::Snapshot m = mapped.snapshot();
  std::vector<uint8_t> mc(m.codes, m.codes + m.size * nb);
  std::vector<int64_t> mi(m.ids, m.ids + m.size);
  mapped.add(codes.data(), 10, nullptr);
  mapped.remove(mi.data(), 10);
  CHECK(same(m, mc, mi, nb));
  std::remove(tmp.c_str());
}

static void test_limits() {
  bool threw = false;
  try {
    FlatIndex f(kMaxBits + 8);
  } catch (const InvalidArgument&) {
    threw = true;
  }
  CHECK(threw);
  threw = false;
  try {
    MultiIndex mi(size_t{1} << 18);
  } catch (const InvalidArgument&) {
    threw = true;
  }
  CHECK(threw);
  MultiIndex big(kMaxBits);
  std::vector<uint8_t> code(kMaxBits / 8, 0);
  big.add(code.data(), 1, nullptr);  // choosing m is linear in bits
  CHECK(big.size() == 1);
  // k far beyond the index: padded rows, internal work sized by the index.
  FlatIndex f(64);
  std::mt19937_64 rng(9);
  auto codes = random_codes(rng, 10, 8);
  f.add(codes.data(), 10, nullptr);
  const size_t k = 100000;
  std::vector<int32_t> d(2 * k);
  std::vector<int64_t> ids(2 * k);
  f.search(codes.data(), 2, k, d.data(), ids.data());
  CHECK(d[0] == 0 && ids[0] == 0 && d[k] == 0 && ids[k] == 1);
  CHECK(ids[10] == kMissingId && d[10] == kMissingDistance && ids[2 * k - 1] == kMissingId);
  threw = false;
  try {
    check_result_size(3, size_t{1} << 27);
  } catch (const InvalidArgument&) {
    threw = true;
  }
  CHECK(threw);
  set_num_threads(1000000);
  CHECK(get_num_threads() == kMaxThreads);
  set_num_threads(0);
}

int main() {
  std::mt19937_64 rng(14);
  const std::string tmp = "deephash_storage_test_" + std::to_string(rng() % 1000000) + ".dhx";
  FlatIndex flat(64);
  test_self_add_and_snapshots(flat, rng, tmp);
  MultiIndex multi(128);
  test_self_add_and_snapshots(multi, rng, tmp);
  test_limits();
  if (failures) {
    std::fprintf(stderr, "%d failures\n", failures);
    return 1;
  }
  std::printf("storage tests passed\n");
  return 0;
}
