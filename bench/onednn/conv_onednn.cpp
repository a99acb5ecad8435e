// ConvGrad's oneDNN side-by-side harness: times oneDNN's forward, backward-data and backward-weight (fp32) on every
// row of a conv2d suite CSV (the format of bench/conv2d-suite.csv) and writes the CSV that `convgrad bench --baseline`
// reads. oneDNN picks its own layouts (format_tag::any, i.e. its blocked nChw16c/nChw8c formats on AVX-512/AVX2); the
// tensors are filled in NCHW and reordered into those layouts before timing, so reorders are outside the timed region
// (how oneDNN is usually quoted). Each pass: warm-up for 0.2 s, then calls until --min-time seconds (at least 5); the
// median call is reported.
//
// Build and run: bench/onednn/run.sh (g++ -O2 -march=native -fopenmp ... -ldnnl, Debian's libdnnl-dev).
// Usage: conv_onednn SUITE.csv [--csv OUT.csv] [--only NAME[,NAME...]] [--min-time SECONDS]
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct Layer {
  std::string name;
  long n, c, h, w, k, r, s, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups;
  long out_h() const { return (h + 2 * pad_h - dil_h * (r - 1) - 1) / stride_h + 1; }
  long out_w() const { return (w + 2 * pad_w - dil_w * (s - 1) - 1) / stride_w + 1; }
  double flops() const { return 2.0 * n * k * out_h() * out_w() * (c / groups) * r * s; }
};

std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream in(line);
  for (std::string field; std::getline(in, field, ',');) out.push_back(field);
  return out;
}

std::vector<Layer> load_suite(const std::string& path) {
  std::ifstream file(path);
  if (!file) throw std::runtime_error("cannot open suite " + path);
  std::string line;
  std::getline(file, line);
  const auto header = split(line);
  auto column = [&](const char* name) {
    auto it = std::find(header.begin(), header.end(), name);
    if (it == header.end()) throw std::runtime_error(path + ": no column " + name);
    return static_cast<size_t>(it - header.begin());
  };
  const size_t name = column("name");
  const char* numeric[] = {"N", "C", "H", "W", "K", "R", "S", "stride_h", "stride_w", "pad_h", "pad_w", "dil_h", "dil_w", "groups"};
  std::vector<size_t> at;
  for (const char* col : numeric) at.push_back(column(col));
  std::vector<Layer> layers;
  while (std::getline(file, line)) {
    if (line.empty()) continue;
    const auto f = split(line);
    std::vector<long> v;
    for (size_t i : at) v.push_back(std::stol(f.at(i)));
    layers.push_back({f.at(name), v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12], v[13]});
  }
  return layers;
}

double seconds_now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Median seconds of one call after a warm-up; calls are batched so that a sample lasts >= 1 ms.
double median_seconds(const std::function<void()>& call, double min_time) {
  double start = seconds_now();
  int warm = 0;
  do { call(); ++warm; } while (warm < 3 || seconds_now() - start < 0.2);
  const double per_call = (seconds_now() - start) / warm;
  const long batch = per_call >= 1e-3 ? 1 : std::max(1L, static_cast<long>(1e-3 / std::max(per_call, 1e-9)));
  std::vector<double> samples;
  double total = 0;
  while (total < min_time || samples.size() < 5) {
    const double t0 = seconds_now();
    for (long i = 0; i < batch; ++i) call();
    const double dt = seconds_now() - t0;
    total += dt;
    samples.push_back(dt / batch);
  }
  std::sort(samples.begin(), samples.end());
  return samples[samples.size() / 2];
}

// A memory in the layout the primitive wants, filled with uniform values through a reorder from plain NCHW/OIHW.
dnnl::memory filled(const dnnl::memory::desc& want, const dnnl::memory::desc& plain, dnnl::engine& eng, dnnl::stream& strm, std::mt19937& rng) {
  dnnl::memory user(plain, eng);
  float* p = static_cast<float*>(user.get_data_handle());
  std::uniform_real_distribution<float> uniform(-1.f, 1.f);
  for (size_t i = 0; i < plain.get_size() / sizeof(float); ++i) p[i] = uniform(rng);
  dnnl::memory m(want, eng);
  dnnl::reorder(user, m).execute(strm, user, m);
  strm.wait();
  return m;
}

struct Result {
  double ms[3];
  std::string impl[3];
};

Result run_layer(const Layer& l, dnnl::engine& eng, dnnl::stream& strm, double min_time) {
  using dnnl::memory;
  using tag = memory::format_tag;
  const auto f32 = memory::data_type::f32;
  const memory::dims src{l.n, l.c, l.h, l.w}, dst{l.n, l.k, l.out_h(), l.out_w()};
  const memory::dims wei = l.groups > 1 ? memory::dims{l.groups, l.k / l.groups, l.c / l.groups, l.r, l.s} : memory::dims{l.k, l.c, l.r, l.s};
  const memory::dims strides{l.stride_h, l.stride_w}, dilation{l.dil_h - 1, l.dil_w - 1}, pad{l.pad_h, l.pad_w};
  const memory::desc src_any(src, f32, tag::any), wei_any(wei, f32, tag::any), dst_any(dst, f32, tag::any);
  const memory::desc src_plain(src, f32, tag::nchw), dst_plain(dst, f32, tag::nchw);
  const memory::desc wei_plain(wei, f32, l.groups > 1 ? tag::goihw : tag::oihw);
  const auto algo = dnnl::algorithm::convolution_direct;

  dnnl::convolution_forward::primitive_desc fwd(
      dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, algo, src_any, wei_any, dst_any, strides, dilation, pad, pad), eng);
  dnnl::convolution_backward_data::primitive_desc bwd_data(
      dnnl::convolution_backward_data::desc(algo, src_any, wei_any, dst_any, strides, dilation, pad, pad), eng, fwd);
  dnnl::convolution_backward_weights::primitive_desc bwd_weights(
      dnnl::convolution_backward_weights::desc(algo, src_any, wei_any, dst_any, strides, dilation, pad, pad), eng, fwd);

  std::mt19937 rng(static_cast<unsigned>(l.name.size() * 7919 + l.c));
  memory x = filled(fwd.src_desc(), src_plain, eng, strm, rng);
  memory w = filled(fwd.weights_desc(), wei_plain, eng, strm, rng);
  memory y(fwd.dst_desc(), eng);
  memory dy = filled(bwd_data.diff_dst_desc(), dst_plain, eng, strm, rng);
  memory dx(bwd_data.diff_src_desc(), eng);
  memory w_data = filled(bwd_data.weights_desc(), wei_plain, eng, strm, rng);
  memory x_w = filled(bwd_weights.src_desc(), src_plain, eng, strm, rng);
  memory dy_w = filled(bwd_weights.diff_dst_desc(), dst_plain, eng, strm, rng);
  memory dw(bwd_weights.diff_weights_desc(), eng);

  dnnl::convolution_forward f(fwd);
  dnnl::convolution_backward_data d(bwd_data);
  dnnl::convolution_backward_weights g(bwd_weights);
  Result r;
  r.ms[0] = 1e3 * median_seconds([&] { f.execute(strm, {{DNNL_ARG_SRC, x}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, y}}); strm.wait(); }, min_time);
  r.ms[1] = 1e3 * median_seconds([&] { d.execute(strm, {{DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_WEIGHTS, w_data}, {DNNL_ARG_DIFF_SRC, dx}}); strm.wait(); }, min_time);
  r.ms[2] = 1e3 * median_seconds([&] { g.execute(strm, {{DNNL_ARG_SRC, x_w}, {DNNL_ARG_DIFF_DST, dy_w}, {DNNL_ARG_DIFF_WEIGHTS, dw}}); strm.wait(); }, min_time);
  r.impl[0] = fwd.impl_info_str();
  r.impl[1] = bwd_data.impl_info_str();
  r.impl[2] = bwd_weights.impl_info_str();
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: conv_onednn SUITE.csv [--csv OUT.csv] [--only NAME[,NAME...]] [--min-time SECONDS]\n");
    return 2;
  }
  std::string suite = argv[1], csv_path, only;
  double min_time = 0.5;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) { std::fprintf(stderr, "conv_onednn: option %s needs a value\n", a.c_str()); return 2; }
    if (a == "--csv") csv_path = argv[++i];
    else if (a == "--only") only = "," + std::string(argv[++i]) + ",";
    else if (a == "--min-time") min_time = std::atof(argv[++i]);
    else { std::fprintf(stderr, "conv_onednn: unknown option %s\n", a.c_str()); return 2; }
  }
  try {
    const auto layers = load_suite(suite);
    dnnl::engine eng(dnnl::engine::kind::cpu, 0);
    dnnl::stream strm(eng);
    const auto* v = dnnl_version();
    std::printf("oneDNN %d.%d.%d, max CPU ISA %d, min time %.2f s; times are medians, reorders outside the timed region\n",
                v->major, v->minor, v->patch, static_cast<int>(dnnl::get_effective_cpu_isa()), min_time);
    std::printf("%-20s %10s %10s %10s %9s %9s %9s  %s\n", "name", "fwd ms", "dx ms", "dw ms", "fwd GF/s", "dx GF/s", "dw GF/s", "impl fwd / dx / dw");
    FILE* csv = csv_path.empty() ? nullptr : std::fopen(csv_path.c_str(), "w");
    if (!csv_path.empty() && !csv) { std::fprintf(stderr, "conv_onednn: cannot write %s\n", csv_path.c_str()); return 2; }
    if (csv) std::fprintf(csv, "name,gflop,fwd_ms,fwd_gflops,bwd_data_ms,bwd_data_gflops,bwd_weight_ms,bwd_weight_gflops,impl_fwd,impl_bwd_data,impl_bwd_weight\n");
    for (const auto& l : layers) {
      if (!only.empty() && only.find("," + l.name + ",") == std::string::npos) continue;
      const Result r = run_layer(l, eng, strm, min_time);
      const double gf = l.flops() / 1e9;
      std::printf("%-20s %10.4f %10.4f %10.4f %9.1f %9.1f %9.1f  %s / %s / %s\n", l.name.c_str(), r.ms[0], r.ms[1], r.ms[2],
                  gf / (r.ms[0] * 1e-3), gf / (r.ms[1] * 1e-3), gf / (r.ms[2] * 1e-3), r.impl[0].c_str(), r.impl[1].c_str(), r.impl[2].c_str());
      std::fflush(stdout);
      if (csv) {
        std::fprintf(csv, "%s,%.9g,%.9g,%.6g,%.9g,%.6g,%.9g,%.6g,%s,%s,%s\n", l.name.c_str(), gf, r.ms[0], gf / (r.ms[0] * 1e-3), r.ms[1],
                     gf / (r.ms[1] * 1e-3), r.ms[2], gf / (r.ms[2] * 1e-3), r.impl[0].c_str(), r.impl[1].c_str(), r.impl[2].c_str());
        std::fflush(csv);
      }
    }
    if (csv) std::fclose(csv);
  } catch (const dnnl::error& e) {
    std::fprintf(stderr, "conv_onednn: oneDNN error %d: %s\n", static_cast<int>(e.status), e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "conv_onednn: %s\n", e.what());
    return 1;
  }
  return 0;
}
