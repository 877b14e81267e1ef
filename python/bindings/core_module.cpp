// deephash._core: module-level functions and the registration of every class.
#include <pybind11/pybind11.h>

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

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "deephash compiled core (private; use the deephash package)";

  py::register_exception<FormatError>(m, "FormatError", PyExc_ValueError);
  py::register_exception<IoError>(m, "IoError", PyExc_OSError);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const InvalidArgument& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    }
  });

  m.def("simd_level", [] { return std::string(simd_level_name(simd_level())); });
  m.def("detected_simd_level", [] { return std::string(simd_level_name(detected_simd_level())); });
  m.def("_set_simd_level", [](const std::string& name) {
    SimdLevel level;
    if (!parse_simd_level(name.c_str(), &level))
      throw InvalidArgument("SIMD level must be scalar, avx2 or avx512, got '" + name + "'");
    return std::string(simd_level_name(set_simd_level(level)));
  }, "Caps the SIMD level (tests and benchmarks); returns the level now in use.");
  m.attr("MAX_BITS") = kMaxBits;
  m.attr("MAX_THREADS") = kMaxThreads;
  m.attr("MAX_RESULT_ENTRIES") = kMaxResultEntries;
  m.def("get_num_threads", &get_num_threads);
  m.def("set_num_threads", &set_num_threads);
  m.def("read_index_kind", [](const std::string& path) {
    IndexFileInfo info;
    {
      py::gil_scoped_release release;
      info = read_index_header(path);
    }
    return index_kind_name(info.kind);
  });

  deephash_py::register_flat_index(m);
  deephash_py::register_multi_index(m);
}
