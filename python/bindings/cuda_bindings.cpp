// deephash._cuda: thin bindings of deephash::gpu::GpuFlatIndex (cuda/gpu_flat_index.hpp).
// Arguments arrive validated by python/deephash/gpu_index.py; device pointers and streams arrive
// as integers. Device results are returned as DeviceArray objects exposing
// __cuda_array_interface__, which torch.as_tensor / cupy.asarray wrap without a copy.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "deephash/errors.hpp"
#include "deephash/limits.hpp"
#include "deephash/weighted.hpp"
#include "gpu_flat_index.hpp"

namespace py = pybind11;
using deephash::gpu::GpuFlatIndex;
using deephash::gpu::Loc;

namespace {

using CodesArray = py::array_t<uint8_t, py::array::c_style>;
using IdsArray = py::array_t<int64_t, py::array::c_style>;
using WeightsArray = py::array_t<float, py::array::c_style>;

// A device allocation owned by Python; freed when the last reference (a tensor wrapping it
// through __cuda_array_interface__ keeps one) goes away.
class DeviceArray {
 public:
  DeviceArray(void* ptr, int device, std::vector<py::ssize_t> shape, std::string typestr)
      : ptr_(ptr), device_(device), shape_(std::move(shape)), typestr_(std::move(typestr)) {}
  ~DeviceArray() { deephash::gpu::free_device(ptr_, device_); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;

  py::dict interface() const {
    py::dict d;
    py::tuple shape(shape_.size());
    for (size_t i = 0; i < shape_.size(); ++i) shape[i] = shape_[i];
    d["shape"] = shape;
    d["typestr"] = typestr_;
    d["data"] = py::make_tuple(reinterpret_cast<uintptr_t>(ptr_), false);
    d["version"] = 3;
    d["strides"] = py::none();
    d["stream"] = py::none();  // results are complete when the call returns
    return d;
  }
  int device() const { return device_; }

 private:
  void* ptr_;
  int device_;
  std::vector<py::ssize_t> shape_;
  std::string typestr_;
};

// Quantised weights of a validated float32 (rows, bits) array (rows 0 = unweighted).
struct Quant {
  std::vector<uint32_t> q;
  std::vector<double> scale;  // 2^e per row: distance = total * scale, exactly
  std::vector<int> exponent;
  deephash::gpu::QuantWeights view() {
    deephash::gpu::QuantWeights w;
    w.rows = scale.size();
    w.q = q.data();
    w.scale = scale.data();
    return w;
  }
};

Quant quantize(const py::object& weights, size_t bits) {
  Quant out;
  if (weights.is_none()) return out;
  auto w = weights.cast<WeightsArray>();
  if (w.ndim() != 2 || static_cast<size_t>(w.shape(1)) != bits)
    throw deephash::InvalidArgument("weights must have shape (rows, bits)");
  const size_t rows = static_cast<size_t>(w.shape(0));
  out.q.resize(rows * bits);
  out.scale.resize(rows);
  out.exponent.resize(rows);
  for (size_t r = 0; r < rows; ++r) {
    // The CPU's quantisation, so GPU and CPU weighted results are identical.
    const deephash::QuantizedWeights qw = deephash::quantize_weights(w.data() + r * bits, bits);
    std::copy(qw.units.begin(), qw.units.end(), out.q.begin() + static_cast<std::ptrdiff_t>(r * bits));
    out.exponent[r] = qw.exponent;
    out.scale[r] = std::ldexp(1.0, qw.exponent);
  }
  return out;
}

// Integer radius per query: the Hamming radius, or the weighted threshold (radius as float32,
// like the CPU weighted search).
std::vector<int32_t> radii(double radius, const Quant& w, size_t nq) {
  if (w.scale.empty()) {
    const double r = radius > 2147483647.0 ? 2147483647.0 : std::floor(radius);
    return std::vector<int32_t>(1, static_cast<int32_t>(r));
  }
  std::vector<int32_t> out(w.scale.size() == 1 ? 1 : nq);
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = deephash::weighted_threshold(static_cast<float>(radius), w.exponent[i]);
  return out;
}

py::object device_array(void* ptr, int device, std::vector<py::ssize_t> shape, const char* typestr) {
  return py::cast(std::make_unique<DeviceArray>(ptr, device, std::move(shape), typestr));
}

py::ssize_t ss(size_t v) { return static_cast<py::ssize_t>(v); }

size_t rows_of(const CodesArray& a, size_t code_size) {
  if (a.ndim() != 2 || static_cast<size_t>(a.shape(1)) != code_size)
    throw deephash::InvalidArgument("codes must have shape (n, " + std::to_string(code_size) + ")");
  return static_cast<size_t>(a.shape(0));
}

}  // namespace

PYBIND11_MODULE(_cuda, m) {
  m.doc() = "deephash CUDA engine (private; use deephash.GpuFlatIndex)";
  py::register_exception<deephash::gpu::CudaError>(m, "CudaError", PyExc_RuntimeError);
  py::register_exception<deephash::gpu::DeviceOutOfMemory>(m, "DeviceOutOfMemory", PyExc_MemoryError);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const deephash::InvalidArgument& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    }
  });

  m.def(
      "device_count",
      [] {
        std::string reason;
        const int n = deephash::gpu::device_count(&reason);
        return py::make_tuple(n, reason);
      },
      "(number of usable CUDA devices, reason when there is none)");
  m.def(
      "quantize_weights",
      [](const WeightsArray& w, size_t bits) {
        Quant qw = quantize(w, bits);
        py::array_t<uint32_t> q({ss(qw.scale.size()), ss(bits)});
        std::copy(qw.q.begin(), qw.q.end(), q.mutable_data());
        py::array_t<int> e({ss(qw.exponent.size())});
        std::copy(qw.exponent.begin(), qw.exponent.end(), e.mutable_data());
        return py::make_tuple(q, e);
      },
      "(units (rows, bits), exponents (rows,)) of weights (deephash/weighted.hpp); for tests, no device needed.");
  m.def("weighted_threshold", &deephash::weighted_threshold);
  m.def("device_description", &deephash::gpu::device_description);
  m.def("max_k", &deephash::gpu::max_k);
  m.def("pointer_device",
        [](uintptr_t ptr) { return deephash::gpu::pointer_device(reinterpret_cast<const void*>(ptr)); });

  py::class_<DeviceArray>(m, "DeviceArray")
      .def_property_readonly("__cuda_array_interface__", &DeviceArray::interface)
      .def_property_readonly("device", &DeviceArray::device);

  py::class_<GpuFlatIndex>(m, "GpuFlatIndex")
      .def(py::init<size_t, int>(), py::arg("bits"), py::arg("device"))
      .def_property_readonly("bits", &GpuFlatIndex::bits)
      .def_property_readonly("size",
                             [](const GpuFlatIndex& self) {
                               py::gil_scoped_release release;  // the index lock may be held by a mutation
                               return self.size();
                             })
      .def_property_readonly("device", &GpuFlatIndex::device)
      .def("memory_bytes", &GpuFlatIndex::memory_bytes, py::call_guard<py::gil_scoped_release>())
      .def("reserve",
           [](GpuFlatIndex& self, size_t n) {
             py::gil_scoped_release release;
             self.reserve(n);
           })
      .def("add_host",
           [](GpuFlatIndex& self, const CodesArray& codes, const py::object& ids) {
             const size_t n = rows_of(codes, self.code_size());
             IdsArray id_arr;
             const int64_t* idp = nullptr;
             if (!ids.is_none()) {
               id_arr = ids.cast<IdsArray>();
               if (static_cast<size_t>(id_arr.size()) != n) throw deephash::InvalidArgument("one id per code");
               idp = id_arr.data();
             }
             py::gil_scoped_release release;
             self.add(codes.data(), n, idp, Loc::host, 0);
           })
      .def("add_device",
           [](GpuFlatIndex& self, uintptr_t ptr, size_t n, const py::object& ids, uintptr_t stream) {
             IdsArray id_arr;
             const int64_t* idp = nullptr;
             if (!ids.is_none()) {
               id_arr = ids.cast<IdsArray>();
               if (static_cast<size_t>(id_arr.size()) != n) throw deephash::InvalidArgument("one id per code");
               idp = id_arr.data();
             }
             py::gil_scoped_release release;
             self.add(reinterpret_cast<const uint8_t*>(ptr), n, idp, Loc::device, stream);
           })
      .def("remove",
           [](GpuFlatIndex& self, const IdsArray& ids) {
             py::gil_scoped_release release;
             return self.remove(ids.data(), static_cast<size_t>(ids.size()), 0);
           })
      .def("copy_out",
           [](const GpuFlatIndex& self) {
             std::vector<uint8_t> codes;
             std::vector<int64_t> ids;
             {
               py::gil_scoped_release release;
               self.copy_out(&codes, &ids, 0);
             }
             const size_t n = ids.size();
             py::array_t<uint8_t> c({ss(n), ss(self.code_size())});
             py::array_t<int64_t> i({ss(n)});
             std::copy(codes.begin(), codes.end(), c.mutable_data());
             std::copy(ids.begin(), ids.end(), i.mutable_data());
             return py::make_tuple(c, i);
           })
      .def("search_host",
           [](const GpuFlatIndex& self, const CodesArray& queries, size_t k, const py::object& weights) {
             const size_t nq = rows_of(queries, self.code_size());
             deephash::check_result_size(nq, k);  // before the (nq, k) output is allocated
             Quant w = quantize(weights, self.bits());
             const bool weighted = !w.scale.empty();
             py::array dist = weighted ? py::array(py::array_t<float>({ss(nq), ss(k)}))
                                       : py::array(py::array_t<int32_t>({ss(nq), ss(k)}));
             py::array_t<int64_t> ids({ss(nq), ss(k)});
             void* dp = dist.mutable_data();
             int64_t* ip = ids.mutable_data();
             {
               py::gil_scoped_release release;
               self.search(queries.data(), nq, k, w.view(), weighted ? nullptr : static_cast<int32_t*>(dp),
                           weighted ? static_cast<float*>(dp) : nullptr, ip, Loc::host, 0);
             }
             return py::make_tuple(dist, ids);
           })
      .def("search_device",
           [](const GpuFlatIndex& self, uintptr_t qptr, size_t nq, size_t k, const py::object& weights,
              uintptr_t stream) {
             deephash::check_result_size(nq, k);  // before the (nq, k) output is allocated
             Quant w = quantize(weights, self.bits());
             const bool weighted = !w.scale.empty();
             const int dev = self.device();
             const size_t cells = nq * k ? nq * k : 1;
             void* dp = deephash::gpu::alloc_device(cells * 4, dev);
             py::object dist = device_array(dp, dev, {static_cast<py::ssize_t>(nq), static_cast<py::ssize_t>(k)},
                                            weighted ? "<f4" : "<i4");
             void* ip = deephash::gpu::alloc_device(cells * 8, dev);
             py::object ids = device_array(ip, dev, {static_cast<py::ssize_t>(nq), static_cast<py::ssize_t>(k)}, "<i8");
             {
               py::gil_scoped_release release;
               self.search(reinterpret_cast<const uint8_t*>(qptr), nq, k, w.view(),
                           weighted ? nullptr : static_cast<int32_t*>(dp), weighted ? static_cast<float*>(dp) : nullptr,
                           static_cast<int64_t*>(ip), Loc::device, stream);
             }
             return py::make_tuple(dist, ids);
           })
      .def("range_search",
           [](const GpuFlatIndex& self, uintptr_t qptr, const py::object& host_queries, size_t nq, double radius,
              const py::object& weights, uintptr_t stream, bool to_host) -> py::tuple {
             Quant w = quantize(weights, self.bits());
             const bool weighted = !w.scale.empty();
             const std::vector<int32_t> rad = radii(radius, w, nq);
             CodesArray hq;
             const uint8_t* q = reinterpret_cast<const uint8_t*>(qptr);
             Loc loc = Loc::device;
             if (!host_queries.is_none()) {
               hq = host_queries.cast<CodesArray>();
               nq = rows_of(hq, self.code_size());
               q = hq.data();
               loc = Loc::host;
             }
             deephash::gpu::DeviceRange r;
             {
               py::gil_scoped_release release;
               r = self.range_search(q, nq, rad.data(), rad.size(), w.view(), loc, stream);
             }
             const int dev = self.device();
             py::object lims = device_array(r.lims, dev, {static_cast<py::ssize_t>(nq + 1)}, "<i8");
             py::object dist =
                 device_array(r.distances, dev, {static_cast<py::ssize_t>(r.total)}, weighted ? "<f4" : "<i4");
             py::object ids = device_array(r.ids, dev, {static_cast<py::ssize_t>(r.total)}, "<i8");
             if (!to_host) return py::tuple(py::make_tuple(lims, dist, ids));
             py::array_t<int64_t> hl({ss(nq + 1)});
             py::array hd = weighted ? py::array(py::array_t<float>({ss(r.total)}))
                                     : py::array(py::array_t<int32_t>({ss(r.total)}));
             py::array_t<int64_t> hi({ss(r.total)});
             {
               py::gil_scoped_release release;
               deephash::gpu::copy_to_host(hl.mutable_data(), r.lims, (nq + 1) * 8, dev);
               deephash::gpu::copy_to_host(hd.mutable_data(), r.distances, r.total * 4, dev);
               deephash::gpu::copy_to_host(hi.mutable_data(), r.ids, r.total * 8, dev);
             }
             return py::tuple(py::make_tuple(hl, hd, hi));
           });
}
