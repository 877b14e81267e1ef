// Bindings of deephash::MultiIndex and of the weighted searches (over a FlatIndex or a
// MultiIndex). Arguments arrive validated by python/deephash/{index,multi_index}.py.
#include <string>

#include "bindings_common.hpp"
#include "deephash/flat_index.hpp"
#include "deephash/multi_index.hpp"
#include "deephash/weighted.hpp"

namespace deephash_py {

using deephash::FlatIndex;
using deephash::MultiIndex;
using WeightsArray = py::array_t<float, py::array::c_style>;

namespace {

const char* strategy_name(MultiIndex::Strategy s) {
  switch (s) {
    case MultiIndex::Strategy::hashing: return "hashing";
    case MultiIndex::Strategy::linear: return "linear";
    default: return "auto";
  }
}

// Shape of validated weights: (bits,) shared, or (nq, bits) per query.
bool per_query_weights(const WeightsArray& w, size_t bits, size_t nq) {
  if (w.ndim() == 1 && static_cast<size_t>(w.shape(0)) == bits) return false;
  if (w.ndim() == 2 && static_cast<size_t>(w.shape(0)) == nq && static_cast<size_t>(w.shape(1)) == bits)
    return true;
  throw deephash::InvalidArgument("weights must have shape (bits,) or (nq, bits)");
}

template <typename Index>
py::tuple weighted_search(const Index& self, const CodesArray& queries, size_t k,
                          const WeightsArray& w) {
  const size_t nq = rows_of(queries, self.code_size());
  const bool pq = per_query_weights(w, self.bits(), nq);
  deephash::check_result_size(nq, k);  // before the (nq, k) output is allocated
  py::array_t<float> dist({nq, k});
  py::array_t<int64_t> ids({nq, k});
  {
    py::gil_scoped_release release;
    const deephash::ReadLock lock = self.read_lock();
    deephash::weighted_search(self.codes(), self.ids(), self.store().size(), self.bits(), queries.data(), nq,
                              k, w.data(), pq, dist.mutable_data(), ids.mutable_data(),
                              self.store().ids_increasing());
  }
  return py::make_tuple(dist, ids);
}

template <typename Index>
py::tuple weighted_range_search(const Index& self, const CodesArray& queries, float radius,
                                const WeightsArray& w) {
  const size_t nq = rows_of(queries, self.code_size());
  const bool pq = per_query_weights(w, self.bits(), nq);
  deephash::RangeResultT<float> r;
  {
    py::gil_scoped_release release;
    const deephash::ReadLock lock = self.read_lock();
    r = deephash::weighted_range_search(self.codes(), self.ids(), self.store().size(), self.bits(),
                                        queries.data(), nq, radius, w.data(), pq);
  }
  return range_to_tuple(std::move(r));
}

}  // namespace

void register_multi_index(py::module_& m) {
  py::class_<MultiIndex> cls(m, "MultiIndex");
  cls.def(py::init<size_t, size_t>(), py::arg("bits"), py::arg("m") = 0)
      .def_property_readonly("m", [](const MultiIndex& self) {
        py::gil_scoped_release release;
        return self.m();
      })
      .def_property_readonly("fixed_m", &MultiIndex::fixed_m)
      .def_property_readonly("indexed", [](const MultiIndex& self) {
        py::gil_scoped_release release;
        return self.indexed();
      })
      .def_property_readonly("hashed_queries", &MultiIndex::hashed_queries)
      .def_property_readonly("linear_queries", &MultiIndex::linear_queries)
      .def_property(
          "strategy",
          [](const MultiIndex& self) {
            MultiIndex::Strategy s;
            {
              py::gil_scoped_release release;
              s = self.strategy();
            }
            return std::string(strategy_name(s));
          },
          [](MultiIndex& self, const std::string& s) {
            MultiIndex::Strategy v;
            if (s == "auto") v = MultiIndex::Strategy::automatic;
            else if (s == "hashing") v = MultiIndex::Strategy::hashing;
            else if (s == "linear") v = MultiIndex::Strategy::linear;
            else throw deephash::InvalidArgument("strategy must be 'auto', 'hashing' or 'linear', got '" + s + "'");
            py::gil_scoped_release release;
            self.set_strategy(v);
          })
      .def_static("auto_m", &MultiIndex::auto_m)
      .def("rebuild", [](MultiIndex& self) {
        py::gil_scoped_release release;
        self.rebuild();
      });
  bind_index_common<MultiIndex>(cls);

  m.def("weighted_search", &weighted_search<FlatIndex>);
  m.def("weighted_search", &weighted_search<MultiIndex>);
  m.def("weighted_range_search", &weighted_range_search<FlatIndex>);
  m.def("weighted_range_search", &weighted_range_search<MultiIndex>);
}

}  // namespace deephash_py
