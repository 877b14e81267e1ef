// Bindings of deephash::FlatIndex. Arguments arrive validated by python/deephash/index.py.
#include "bindings_common.hpp"
#include "deephash/flat_index.hpp"

namespace deephash_py {

void register_flat_index(py::module_& m) {
  py::class_<deephash::FlatIndex> cls(m, "FlatIndex");
  cls.def(py::init<size_t>(), py::arg("bits"));
  bind_index_common<deephash::FlatIndex>(cls);
  bind_weighted<deephash::FlatIndex>(m);
}

}  // namespace deephash_py
