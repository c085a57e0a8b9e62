// Draws from many generators in one call (built on first use by rnnlab/compiled.py, taken by
// tasks/stream_draws.py where it is built; its Python loop over the streams is the reference).
//
// torch draws from one generator per call, and a call costs about two microseconds (a tensor
// iterator is set up each time) whatever it draws. The seed ensembles draw each member's
// minibatch from the member's own stream: for one sequence of Hochreiter's adding problem that
// is four calls (the length, two positions, the values). Here each stream's numbers come from the distributions
// torch's CPU kernels use (ATen/core/DistributionsHelper.h: `Tensor.random_(0, high)` and
// `Tensor.uniform_(0, 1)`), from the stream's generator under its lock, in the order the
// kernels draw them (element by element): the same numbers, bit for bit, as the Python calls
// (the tests compare them).

#include <torch/extension.h>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/DistributionsHelper.h>

#include <cstdint>
#include <mutex>
#include <vector>

namespace {

void check_streams(const char* what, int64_t count, size_t streams) {
  TORCH_CHECK(count == static_cast<int64_t>(streams), what, " must have one entry per generator (",
              streams, "), got ", count);
}

at::CPUGeneratorImpl* cpu_generator(const at::Generator& generator, size_t k) {
  TORCH_CHECK(generator.device().is_cpu(), "generators[", k, "] must be a CPU generator");
  return at::check_generator<at::CPUGeneratorImpl>(generator);
}

// rows[k, :] = what rows[k].random_(0, highs[k], generator=generators[k]) draws, for every k.
void integers(at::Tensor rows, const std::vector<int64_t>& highs,
              const std::vector<at::Generator>& generators) {
  TORCH_CHECK(rows.dim() == 2 && rows.scalar_type() == at::kLong && rows.device().is_cpu() &&
                  rows.is_contiguous(),
              "rows must be a contiguous (K, n) int64 CPU tensor");
  check_streams("rows", rows.size(0), generators.size());
  check_streams("highs", static_cast<int64_t>(highs.size()), generators.size());
  const int64_t n = rows.size(1);
  int64_t* out = rows.data_ptr<int64_t>();
  for (size_t k = 0; k < generators.size(); ++k) {
    TORCH_CHECK(highs[k] >= 1, "highs[", k, "] must be >= 1, got ", highs[k]);
    at::CPUGeneratorImpl* generator = cpu_generator(generators[k], k);
    const at::uniform_int_from_to_distribution<int64_t> draw(static_cast<uint64_t>(highs[k]), 0);
    std::lock_guard<std::mutex> lock(generator->mutex_);
    for (int64_t i = 0; i < n; ++i) out[static_cast<int64_t>(k) * n + i] = draw(generator);
  }
}

template <typename S>
void uniform_rows(S* values, int64_t count, at::CPUGeneratorImpl* generator) {
  const at::uniform_real_distribution<S> draw(S(0), S(1));
  std::lock_guard<std::mutex> lock(generator->mutex_);
  for (int64_t i = 0; i < count; ++i) {
    const S value = static_cast<S>(draw(generator));
    values[i] = value == S(1) ? S(0) : value;  // as torch's kernel: a value rounded up to 1 is 0
  }
}

// The first dimension of buffer in consecutive blocks, sizes[k] rows for stream k: each block
// what block.uniform_(0, 1, generator=generators[k]) draws.
void uniform_blocks(at::Tensor buffer, const std::vector<int64_t>& sizes,
                    const std::vector<at::Generator>& generators) {
  TORCH_CHECK(buffer.dim() >= 1 && buffer.device().is_cpu() && buffer.is_contiguous() &&
                  (buffer.scalar_type() == at::kFloat || buffer.scalar_type() == at::kDouble),
              "buffer must be a contiguous float32 or float64 CPU tensor of at least one dimension");
  check_streams("sizes", static_cast<int64_t>(sizes.size()), generators.size());
  if (buffer.numel() == 0) return;  // nothing to draw (and no row size to divide by)
  const int64_t row = buffer.numel() / buffer.size(0);
  int64_t start = 0;
  for (size_t k = 0; k < generators.size(); ++k) {
    TORCH_CHECK(sizes[k] >= 0 && start + sizes[k] <= buffer.size(0), "sizes must be >= 0 and sum ",
                "to at most buffer's first dimension (", buffer.size(0), ")");
    at::CPUGeneratorImpl* generator = cpu_generator(generators[k], k);
    if (buffer.scalar_type() == at::kFloat) {
      uniform_rows(buffer.data_ptr<float>() + start * row, sizes[k] * row, generator);
    } else {
      uniform_rows(buffer.data_ptr<double>() + start * row, sizes[k] * row, generator);
    }
    start += sizes[k];
  }
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("integers", &integers, "rows[k] <- rows[k].random_(0, highs[k], generators[k])");
  m.def("uniform_blocks", &uniform_blocks,
        "consecutive blocks of sizes[k] rows of buffer <- uniform_(0, 1, generators[k])");
}
