// Bindings of deephash::MultiIndex. Arguments arrive validated by python/deephash/multi_index.py.
#include <string>

#include "bindings_common.hpp"
#include "deephash/multi_index.hpp"

namespace deephash_py {

using deephash::MultiIndex;

namespace {

const char* strategy_name(MultiIndex::Strategy s) {
  switch (s) {
    case MultiIndex::Strategy::hashing: return "hashing";
    case MultiIndex::Strategy::linear: return "linear";
    default: return "auto";
  }
}

}  // namespace

void register_multi_index(py::module_& m) {
  py::class_<MultiIndex> cls(m, "MultiIndex");
  cls.def(py::init<size_t, size_t>(), py::arg("bits"), py::arg("m") = 0)
      .def_property_readonly("m",
                             [](const MultiIndex& self) {
                               py::gil_scoped_release release;
                               return self.m();
                             })
      .def_property_readonly("fixed_m", &MultiIndex::fixed_m)
      .def_property_readonly("indexed",
                             [](const MultiIndex& self) {
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
            if (s == "auto")
              v = MultiIndex::Strategy::automatic;
            else if (s == "hashing")
              v = MultiIndex::Strategy::hashing;
            else if (s == "linear")
              v = MultiIndex::Strategy::linear;
            else
              throw deephash::InvalidArgument("strategy must be 'auto', 'hashing' or 'linear', got '" + s + "'");
            py::gil_scoped_release release;
            self.set_strategy(v);
          })
      .def_static("auto_m", &MultiIndex::auto_m)
      .def("rebuild", [](MultiIndex& self) {
        py::gil_scoped_release release;
        self.rebuild();
      });
  bind_index_common<MultiIndex>(cls);
  bind_weighted<MultiIndex>(m);
}

}  // namespace deephash_py
