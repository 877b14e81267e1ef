// deephash._core: module-level functions and the registration of every class.
#include <pybind11/pybind11.h>

#include <cstring>
#include <string>

#include "bindings_common.hpp"
#include "deephash/deephash.hpp"

namespace py = pybind11;
using namespace deephash;

namespace {

std::string index_kind_name(IndexKind kind) {
  switch (kind) {
    case IndexKind::flat: return "flat";
    case IndexKind::multi_index: return "multi_index";
  }
  return "unknown";
}

// Raises the OSError an IoError stands for: with an errno, OSError(errno, strerror, filename),
// which Python turns into the matching subclass (FileNotFoundError, PermissionError,
// IsADirectoryError, ...) as its own open() does; without one, OSError(message), the message
// naming the file (a filename attribute would make str() print "[Errno None] None").
void raise_os_error(const IoError& e) {
  if (e.error_code() == 0) {
    PyErr_SetString(PyExc_OSError, e.what());
    return;
  }
  py::object filename = py::none();
  PyObject* name = PyUnicode_DecodeFSDefaultAndSize(e.path().data(), static_cast<py::ssize_t>(e.path().size()));
  if (name != nullptr)
    filename = py::reinterpret_steal<py::object>(name);
  else
    PyErr_Clear();
  py::object exc =
      py::reinterpret_borrow<py::object>(PyExc_OSError)(e.error_code(), std::strerror(e.error_code()), filename);
  PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc.ptr())), exc.ptr());
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "deephash compiled core (private; use the deephash package)";

  py::register_exception<FormatError>(m, "FormatError", PyExc_ValueError);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const InvalidArgument& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const IoError& e) {
      raise_os_error(e);
    }
  });

  m.def("simd_level", [] { return std::string(simd_level_name(simd_level())); });
  m.def("detected_simd_level", [] { return std::string(simd_level_name(detected_simd_level())); });
  m.def(
      "_set_simd_level",
      [](const std::string& name) {
        SimdLevel level;
        if (!parse_simd_level(name.c_str(), &level))
          throw InvalidArgument("SIMD level must be scalar, avx2 or avx512, got '" + name + "'");
        return std::string(simd_level_name(set_simd_level(level)));
      },
      "Caps the SIMD level (tests and benchmarks); returns the level now in use.");
  m.attr("MAX_BITS") = kMaxBits;
  m.attr("MAX_THREADS") = kMaxThreads;
  m.attr("MAX_RESULT_ENTRIES") = kMaxResultEntries;
  m.def("get_num_threads", &get_num_threads);
  m.def("set_num_threads", &set_num_threads);
  // An index file opened once (deephash.load dispatches on .kind, then reads from the same file).
  py::class_<IndexFile>(m, "IndexFile")
      .def_property_readonly("kind", [](const IndexFile& f) { return index_kind_name(f.info().kind); })
      .def_property_readonly("bits", [](const IndexFile& f) { return f.info().bits; })
      .def_property_readonly("count", [](const IndexFile& f) { return f.info().count; })
      .def_property_readonly("path", [](const IndexFile& f) { return py::bytes(f.path()); });
  // The file format's checksum (tools/fuzz.py writes files whose checksums match).
  m.def(
      "_checksum64",
      [](const py::bytes& data, uint64_t seed) {
        const std::string s = data;
        return checksum64(s.data(), s.size(), seed);
      },
      py::arg("data"), py::arg("seed") = 0);
  // The engine's weight quantisation (deephash/weighted.hpp), row by row: the metrics rank by
  // the same integers as the weighted searches. Rows are validated float32 weights.
  m.def(
      "quantize_weights",
      [](const py::array_t<float, py::array::c_style | py::array::forcecast>& w, size_t bits) {
        if (w.ndim() != 2 || static_cast<size_t>(w.shape(1)) != bits)
          throw InvalidArgument("weights must have shape (rows, bits)");
        const size_t rows = static_cast<size_t>(w.shape(0));
        py::array_t<int32_t> units({static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(bits)});
        py::array_t<int32_t> exponents(static_cast<py::ssize_t>(rows));
        for (size_t r = 0; r < rows; ++r) {
          const QuantizedWeights q = quantize_weights(w.data() + r * bits, bits);
          std::copy(q.units.begin(), q.units.end(), units.mutable_data() + r * bits);
          exponents.mutable_data()[r] = q.exponent;
        }
        return py::make_tuple(units, exponents);
      },
      py::arg("weights"), py::arg("bits"), "(units int32 (rows, bits), exponents int32 (rows,))");
  m.def("open_index_file", [](const std::string& path) {
    py::gil_scoped_release release;
    return IndexFile::open(path);
  });

  deephash_py::register_flat_index(m);
  deephash_py::register_multi_index(m);
}
