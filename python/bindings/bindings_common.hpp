// Helpers shared by the binding files: array views and result arrays.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

#include "deephash/code_store.hpp"
#include "deephash/errors.hpp"
#include "deephash/index_io.hpp"
#include "deephash/limits.hpp"
#include "deephash/rw_lock.hpp"
#include "deephash/topk.hpp"
#include "deephash/weighted.hpp"

namespace deephash_py {
namespace py = pybind11;

// C-contiguous arrays of an exact dtype: the Python layer validates and never lets a cast happen.
using CodesArray = py::array_t<uint8_t, py::array::c_style>;
using IdsArray = py::array_t<int64_t, py::array::c_style>;

// Rows of a validated (n, code_size) uint8 array.
inline size_t rows_of(const CodesArray& a, size_t code_size) {
  if (a.ndim() != 2 || static_cast<size_t>(a.shape(1)) != code_size)
    throw deephash::InvalidArgument("codes must have shape (n, " + std::to_string(code_size) + ")");
  return static_cast<size_t>(a.shape(0));
}

// A numpy array that takes ownership of a std::vector's buffer (no copy).
template <typename T>
py::array_t<T> vector_to_array(std::vector<T>&& v) {
  auto* heap = new std::vector<T>(std::move(v));
  py::capsule owner(heap, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  return py::array_t<T>({static_cast<py::ssize_t>(heap->size())}, {sizeof(T)}, heap->data(), owner);
}

// Converts a RangeResult into the (lims, distances, ids) tuple.
template <typename Dist>
py::tuple range_to_tuple(deephash::RangeResultT<Dist>&& r) {
  return py::make_tuple(vector_to_array(std::move(r.lims)), vector_to_array(std::move(r.distances)),
                        vector_to_array(std::move(r.ids)));
}

// A read-only numpy view of a snapshot of an index's storage. The array keeps the snapshot's
// buffer alive (a capsule holding its shared owner), so it stays valid and unchanged whatever
// the index does afterwards (add, remove, the unmapping of a loaded file: copy-on-write).
template <typename T>
py::array snapshot_view(std::vector<py::ssize_t> shape, const T* data, const deephash::CodeStore::Snapshot& snap) {
  auto* keep = new std::shared_ptr<const void>(snap.owner);
  py::capsule owner(keep, [](void* p) { delete static_cast<std::shared_ptr<const void>*>(p); });
  py::array_t<T> a(std::move(shape), data, owner);
  py::detail::array_proxy(a.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
  return a;
}

// The snapshot of an index, taken with the GIL released: the index lock may be held by a
// mutation running in another thread, which must not wait for the GIL meanwhile.
template <typename Index>
deephash::CodeStore::Snapshot snapshot_of(const Index& self) {
  py::gil_scoped_release release;
  return self.snapshot();
}

// The methods every CPU index shares (FlatIndex, MultiIndex): add, remove, search, range_search,
// save, load and the views of the stored codes and ids. The GIL is released around every call
// that takes the index lock (see rw_lock.hpp), and never taken again while it is held.
template <typename Index, typename Class>
void bind_index_common(Class& cls) {
  cls.def_property_readonly("bits", &Index::bits)
      .def_property_readonly("size",
                             [](const Index& self) {
                               py::gil_scoped_release release;
                               return self.size();
                             })
      .def("memory_bytes", &Index::memory_bytes, py::call_guard<py::gil_scoped_release>())
      .def("add",
           [](Index& self, const CodesArray& codes, const py::object& ids) {
             const size_t n = rows_of(codes, self.code_size());
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
      .def("remove",
           [](Index& self, const IdsArray& ids) {
             py::gil_scoped_release release;
             return self.remove(ids.data(), static_cast<size_t>(ids.size()));
           })
      .def("search",
           [](const Index& self, const CodesArray& queries, size_t k) {
             const size_t nq = rows_of(queries, self.code_size());
             deephash::check_result_size(nq, k);  // before the (nq, k) output is allocated
             py::array_t<int32_t> dist({static_cast<py::ssize_t>(nq), static_cast<py::ssize_t>(k)});
             py::array_t<int64_t> ids({static_cast<py::ssize_t>(nq), static_cast<py::ssize_t>(k)});
             {
               py::gil_scoped_release release;
               self.search(queries.data(), nq, k, dist.mutable_data(), ids.mutable_data());
             }
             return py::make_tuple(dist, ids);
           })
      .def("range_search",
           [](const Index& self, const CodesArray& queries, int32_t radius) {
             const size_t nq = rows_of(queries, self.code_size());
             deephash::RangeResult r;
             {
               py::gil_scoped_release release;
               r = self.range_search(queries.data(), nq, radius);
             }
             return range_to_tuple(std::move(r));
           })
      .def("save",
           [](const Index& self, const std::string& path) {
             py::gil_scoped_release release;
             self.save(path);
           })
      .def_static("load",
                  [](const deephash::IndexFile& file, bool mmap) {
                    py::gil_scoped_release release;
                    return Index::load(file, mmap);
                  })
      .def("codes",
           [](const Index& self) {
             const deephash::CodeStore::Snapshot snap = snapshot_of(self);
             return snapshot_view<uint8_t>(
                 {static_cast<py::ssize_t>(snap.size), static_cast<py::ssize_t>(self.code_size())}, snap.codes, snap);
           })
      .def("ids", [](const Index& self) {
        const deephash::CodeStore::Snapshot snap = snapshot_of(self);
        return snapshot_view<int64_t>({static_cast<py::ssize_t>(snap.size)}, snap.ids, snap);
      });
}

using WeightsArray = py::array_t<float, py::array::c_style>;

// Shape of validated weights: (bits,) shared, or (nq, bits) per query.
inline bool per_query_weights(const WeightsArray& w, size_t bits, size_t nq) {
  if (w.ndim() == 1 && static_cast<size_t>(w.shape(0)) == bits) return false;
  if (w.ndim() == 2 && static_cast<size_t>(w.shape(0)) == nq && static_cast<size_t>(w.shape(1)) == bits) return true;
  throw deephash::InvalidArgument("weights must have shape (bits,) or (nq, bits)");
}

template <typename Index>
py::tuple weighted_search(const Index& self, const CodesArray& queries, size_t k, const WeightsArray& w) {
  const size_t nq = rows_of(queries, self.code_size());
  const bool pq = per_query_weights(w, self.bits(), nq);
  deephash::check_result_size(nq, k);  // before the (nq, k) output is allocated
  py::array_t<float> dist({nq, k});
  py::array_t<int64_t> ids({nq, k});
  {
    py::gil_scoped_release release;
    deephash::weighted_search(self.scan_view(), queries.data(), nq, k, w.data(), pq, dist.mutable_data(),
                              ids.mutable_data());
  }
  return py::make_tuple(dist, ids);
}

template <typename Index>
py::tuple weighted_range_search(const Index& self, const CodesArray& queries, float radius, const WeightsArray& w) {
  const size_t nq = rows_of(queries, self.code_size());
  const bool pq = per_query_weights(w, self.bits(), nq);
  deephash::RangeResultT<float> r;
  {
    py::gil_scoped_release release;
    r = deephash::weighted_range_search(self.scan_view(), queries.data(), nq, radius, w.data(), pq);
  }
  return range_to_tuple(std::move(r));
}

// The module functions weighted_search / weighted_range_search(index, queries, k or radius,
// weights) for one index type (pybind11 overloads: one set per index type).
template <typename Index>
void bind_weighted(py::module_& m) {
  m.def("weighted_search", &weighted_search<Index>);
  m.def("weighted_range_search", &weighted_range_search<Index>);
}

void register_flat_index(py::module_& m);
void register_multi_index(py::module_& m);

}  // namespace deephash_py
