// Products of small matrices in vector registers, for the compiled scans (rnnlab/compiled.py puts
// this folder on the include path).
//
//   C (M × N) = A (M × D) · B (D × N)      or      C += A · B
//
// where one B serves many products (a member's weights over every step of a scan): B is packed
// once into panels of kLanes columns (pack_panels: panel p holds B's columns p·kLanes ..
// (p+1)·kLanes - 1, its D rows of kLanes numbers one after the other, zeros past column N), and
// A is read in place, A(r, d) = a[r · row + d · col], so that a transposed A costs nothing.
// A tile of 4 rows of C by kTilePanels = 3 panels (12 or 6 rows by the last one or two panels) is
// summed over d in 12 vector registers: per d, the panels' loads of B, one broadcast of A(r, d)
// per row and 12 independent multiply-adds, enough to hide their latency. The terms of each
// output are added in the order of d; where the build allows fused multiply-adds (the vectorised
// one), each term is one.
//
// Why not ATen's batched product: on the small operands of the seed ensembles' scans
// ((20 × 53)·(53 × 200) per member and step on Pascanu's workload) MKL packs both operands at
// every call; `benchmarks/ensemble.py` measures what the scans gain (benchmarks/RESULTS.md).

#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace rnnlab {

// One vector register's worth of S (GCC/Clang vector type: AVX registers in the vectorised
// build, pairs of SSE registers in the plain one)
template <typename S>
struct VectorOf {
  typedef S type __attribute__((vector_size(32)));
};
template <typename S>
using Lanes = typename VectorOf<S>::type;
template <typename S>
constexpr int64_t kLanes = 32 / sizeof(S);

constexpr int kTilePanels = 3;

// The panels N columns take.
template <typename S>
constexpr int64_t panels_of(int64_t N) {
  return (N + kLanes<S> - 1) / kLanes<S>;
}

// A matrix read in place: A(r, d) = a[r · row + d · col]
template <typename S>
struct Strided {
  const S* a;
  int64_t row, col;
};

// v = kLanes numbers from p; kLanes numbers at p = v (unaligned; through references, so that
// the accumulators stay in registers)
template <typename S>
inline void load(Lanes<S>& v, const S* p) {
  std::memcpy(&v, p, sizeof v);
}
template <typename S>
inline void store(S* p, const Lanes<S>& v) {
  std::memcpy(p, &v, sizeof v);
}

// out (panels_of(N), D, kLanes) = B (D × N; B(d, n) = b[d · row + n · col]) in panels, zeros
// past column N.
template <typename S>
void pack_panels(Strided<S> B, int64_t D, int64_t N, S* out) {
  constexpr int64_t L = kLanes<S>;
  for (int64_t p = 0; p < panels_of<S>(N); ++p) {
    const int64_t n = std::min(L, N - p * L);
    for (int64_t d = 0; d < D; ++d) {
      const S* from = B.a + d * B.row + p * L * B.col;
      S* to = out + (p * D + d) * L;
      if (n == L && B.col == 1) {
        Lanes<S> v;
        load<S>(v, from);
        store<S>(to, v);
      } else {
        for (int64_t j = 0; j < L; ++j) to[j] = j < n ? from[j * B.col] : S(0);
      }
    }
  }
}

// C's tile of MR rows by NV panels (its first n columns; C's rows ldc apart): = or += A · B
template <typename S, int MR, int NV, bool Add>
inline void tile(Strided<S> A, const S* __restrict panels, int64_t D, S* __restrict c,
                 int64_t ldc, int64_t n) {
  using V = Lanes<S>;
  constexpr int64_t L = kLanes<S>;
  const bool full = n == NV * L;
  V acc[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    const S* from = c + r * ldc;
    S part[NV * L];  // a partial tile's row: its n numbers, then zeros
    if (Add && !full) {
      for (int64_t j = 0; j < NV * L; ++j) part[j] = j < n ? from[j] : S(0);
      from = part;
    }
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) {
      acc[r][v] = V{};
      if (Add) load<S>(acc[r][v], from + v * L);
    }
  }
  for (int64_t d = 0; d < D; ++d) {
    V b[NV];
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) load<S>(b[v], panels + (v * D + d) * L);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const S x = A.a[r * A.row + d * A.col];  // broadcast: a scalar times a vector
#pragma GCC unroll 16
      for (int v = 0; v < NV; ++v) acc[r][v] += x * b[v];
    }
  }
  for (int r = 0; r < MR; ++r) {
    if (full) {
#pragma GCC unroll 16
      for (int v = 0; v < NV; ++v) store<S>(c + r * ldc + v * L, acc[r][v]);
    } else {
      S part[NV * L];
      for (int v = 0; v < NV; ++v) store<S>(part + v * L, acc[r][v]);
      for (int64_t j = 0; j < n; ++j) c[r * ldc + j] = part[j];
    }
  }
}

// Rows of C in tiles of MR rows by NV panels, then the rows left in tiles of MR/2, MR/4, ...
// (down to one row)
template <typename S, int MR, int NV, bool Add>
inline void rows_of_tiles(Strided<S> A, int64_t M, const S* panels, int64_t D, S* c, int64_t ldc,
                          int64_t n) {
  int64_t r = 0;
  for (; r + MR <= M; r += MR) {
    tile<S, MR, NV, Add>({A.a + r * A.row, A.row, A.col}, panels, D, c + r * ldc, ldc, n);
  }
  if constexpr (MR > 1) {
    rows_of_tiles<S, MR / 2, NV, Add>({A.a + r * A.row, A.row, A.col}, M - r, panels, D,
                                      c + r * ldc, ldc, n);
  }
}

// C (M × N, rows ldc apart) = A (M × D) · B, or += with Add; B packed by pack_panels. Columns
// in groups of kTilePanels panels, each group's rows in tiles of 4; the last one or two panels
// in tiles of 12 or 6 rows, so that every tile sums into 12 registers.
template <typename S, bool Add>
void multiply(Strided<S> A, int64_t M, int64_t D, const S* panels, int64_t N, S* c,
              int64_t ldc) {
  static_assert(kTilePanels == 3, "the panels left below are one or two");
  constexpr int64_t L = kLanes<S>;
  const int64_t P = panels_of<S>(N);
  int64_t p = 0;
  for (; p + kTilePanels <= P; p += kTilePanels) {
    rows_of_tiles<S, 4, kTilePanels, Add>(A, M, panels + p * D * L, D, c + p * L, ldc,
                                          std::min(kTilePanels * L, N - p * L));
  }
  if (P - p == 2) rows_of_tiles<S, 6, 2, Add>(A, M, panels + p * D * L, D, c + p * L, ldc, N - p * L);
  if (P - p == 1) rows_of_tiles<S, 12, 1, Add>(A, M, panels + p * D * L, D, c + p * L, ldc, N - p * L);
}

}  // namespace rnnlab
