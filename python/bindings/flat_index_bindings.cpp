// Bindings of deephash::FlatIndex. Arguments arrive validated by python/deephash/index.py.
#include <string>

#include "bindings_common.hpp"
#include "deephash/flat_index.hpp"

namespace deephash_py {

using deephash::FlatIndex;

void register_flat_index(py::module_& m) {
  py::class_<FlatIndex>(m, "FlatIndex")
      .def(py::init<size_t>(), py::arg("bits"))
      .def_property_readonly("bits", &FlatIndex::bits)
      .def_property_readonly("size", &FlatIndex::size)
      .def("memory_bytes", &FlatIndex::memory_bytes)
      .def("add", [](FlatIndex& self, const CodesArray& codes, const py::object& ids) {
        size_t n = rows_of(codes, self.code_size());
        if (ids.is_none()) {
          py::gil_scoped_release release;
          self.add(codes.data(), n, nullptr);
          return;
        }
        auto id_arr = ids.cast<IdsArray>();
        if (static_cast<size_t>(id_arr.size()) != n) throw deephash::InvalidArgument("one id per code");
        py::gil_scoped_release release;
        self.add(codes.data(), n, id_arr.data());
      })
      .def("remove", [](FlatIndex& self, const IdsArray& ids) {
        py::gil_scoped_release release;
        return self.remove(ids.data(), static_cast<size_t>(ids.size()));
      })
      .def("search", [](const FlatIndex& self, const CodesArray& queries, size_t k) {
        size_t nq = rows_of(queries, self.code_size());
        py::array_t<int32_t> dist({static_cast<py::ssize_t>(nq), static_cast<py::ssize_t>(k)});
        py::array_t<int64_t> ids({static_cast<py::ssize_t>(nq), static_cast<py::ssize_t>(k)});
        {
          py::gil_scoped_release release;
          self.search(queries.data(), nq, k, dist.mutable_data(), ids.mutable_data());
        }
        return py::make_tuple(dist, ids);
      })
      .def("range_search", [](const FlatIndex& self, const CodesArray& queries, int32_t radius) {
        size_t nq = rows_of(queries, self.code_size());
        deephash::RangeResult r;
        {
          py::gil_scoped_release release;
          r = self.range_search(queries.data(), nq, radius);
        }
        return range_to_tuple(std::move(r));
      })
      .def("save", [](const FlatIndex& self, const std::string& path) {
        py::gil_scoped_release release;
        self.save(path);
      })
      .def_static("load", [](const std::string& path, bool mmap) {
        py::gil_scoped_release release;
        return FlatIndex::load(path, mmap);
      })
      .def("codes", [](py::object self_obj) {
        const auto& self = self_obj.cast<const FlatIndex&>();
        py::array_t<uint8_t> a({static_cast<py::ssize_t>(self.size()), static_cast<py::ssize_t>(self.code_size())},
                              self.codes(), self_obj);
        py::detail::array_proxy(a.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
        return a;
      })
      .def("ids", [](py::object self_obj) {
        const auto& self = self_obj.cast<const FlatIndex&>();
        py::array_t<int64_t> a({static_cast<py::ssize_t>(self.size())}, self.ids(), self_obj);
        py::detail::array_proxy(a.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
        return a;
      });
}

}  // namespace deephash_py
