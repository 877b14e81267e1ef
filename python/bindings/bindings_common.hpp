// Helpers shared by the binding files: array views and result arrays.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <vector>

#include "deephash/errors.hpp"
#include "deephash/topk.hpp"

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

void register_flat_index(py::module_& m);
void register_multi_index(py::module_& m);

}  // namespace deephash_py
