"""C++ source of the CPU selective-scan kernel (built at first use).

The kernel computes the selective scan (S6) of Gu & Dao, "Mamba:
Linear-Time Sequence Modeling with Selective State Spaces" (arXiv
2312.00752), forward and backward, for a real ``A``, with mamba-ssm's
``selective_scan_fn`` semantics. It is kept apart from the code that builds
and calls it (:mod:`m3plugins.ops.selective_scan_cpu_kernel`), which
JIT-compiles it through ``torch.utils.cpp_extension.load_inline``.

It includes only ``ATen/Parallel.h`` (the thread pool that
``torch.get_num_threads()`` sizes) and pybind11, not ``torch/extension.h``,
so a build takes seconds rather than a minute; tensors cross the boundary
as data pointers and strides, checked on the Python side.
"""

SOURCE = r'''
// Selective scan (S6) on CPUs: forward and backward of one scan.
//
// Semantics of mamba-ssm's selective_scan_fn for a real A (Gu & Dao,
// arXiv 2312.00752):
//   dt  = softplus(delta + bias)             (bias and softplus optional)
//   h_t = exp(dt_t A) h_{t-1} + dt_t u_t B_t,   y_t = C_t . h_t + D u_t,
//   out = y * silu(z)                        (z optional).
//
// A tile is one 64-byte vector of channels (16 float / 8 double lanes) of
// one (batch, group): its N state vectors stay in registers and L1, and
// every step updates all its lanes with the same vector arithmetic (GCC /
// Clang vector extensions, no intrinsics). Sequences are cut into chunks:
// a chunk's inputs are transposed into a (step, lane) scratch, processed,
// and its outputs transposed back. Exponentials (a polynomial, vectorised)
// are taken once per (step, state, channel) in each pass. The forward
// keeps the state entering every chunk; the backward recomputes a chunk's
// states and transitions from it, runs the reverse recurrence over them,
// and sums the B and C gradients over the channels of all tiles of a task
// before one horizontal sum per (step, state).
#include <ATen/Parallel.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <type_traits>
#include <vector>

namespace {

using Index = int64_t;

// The vector types and the constants of exp for one floating-point type.
template <typename T>
struct Simd;

template <>
struct Simd<float> {
  typedef float V __attribute__((vector_size(64)));
  typedef uint32_t I __attribute__((vector_size(64)));
  static constexpr int W = 16;
  static constexpr float kMin = -87.0f, kMax = 88.0f;
  static constexpr float kRound = 12582912.0f;  // 1.5 * 2^23
  static constexpr float kLn2Hi = 0.693359375f;
  static constexpr float kLn2Lo = -2.12194440054690583e-4f;
  static constexpr int kMantissa = 23;
  static constexpr int kExpDegree = 7;    // remainder < 2^-24
  static constexpr int kAtanhTerms = 8;   // s^15: remainder < 2^-25
};

template <>
struct Simd<double> {
  typedef double V __attribute__((vector_size(64)));
  typedef uint64_t I __attribute__((vector_size(64)));
  static constexpr int W = 8;
  static constexpr double kMin = -708.0, kMax = 709.0;
  static constexpr double kRound = 6755399441055744.0;  // 1.5 * 2^52
  static constexpr double kLn2Hi = 6.93147180369123816490e-01;
  static constexpr double kLn2Lo = 1.90821492927058770002e-10;
  static constexpr int kMantissa = 52;
  static constexpr int kExpDegree = 13;   // remainder < 2^-53
  static constexpr int kAtanhTerms = 17;  // s^33: remainder < 2^-54
};

template <typename T>
using Vec = typename Simd<T>::V;

template <typename T>
inline Vec<T> splat(T x) {
  return Vec<T>{} + x;
}

template <typename T>
inline Vec<T> load(const T* p) {
  Vec<T> v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

template <typename T>
inline void store(T* p, Vec<T> v) {
  std::memcpy(p, &v, sizeof(v));
}

template <typename T>
inline Vec<T> vmax(Vec<T> a, Vec<T> b) {
  return a > b ? a : b;
}

template <typename T>
inline Vec<T> vmin(Vec<T> a, Vec<T> b) {
  return a < b ? a : b;
}

// exp(x): x = k ln2 + r with |r| <= ln2 / 2, exp(r) by its Taylor
// polynomial, times 2^k. k is rounded to nearest by adding 1.5 *
// 2^mantissa: the sum t then holds k in its low mantissa bits, and
// shifting t's bits left by the mantissa width leaves exactly k in the
// exponent field (the constant's own bits shift out), so one integer add
// to the polynomial's bits multiplies it by 2^k. x is clamped to
// [kMin, kMax], where the result is a normal number or, at the very
// bottom, off by under 1e-37 / 1e-307 absolute.
template <typename T>
inline Vec<T> exp_v(Vec<T> x) {
  using S = Simd<T>;
  using V = Vec<T>;
  using I = typename S::I;
  x = vmin<T>(vmax<T>(x, splat<T>(S::kMin)), splat<T>(S::kMax));
  const V t = x * T(1.44269504088896340736) + S::kRound;
  const V k = t - S::kRound;
  V r = x - k * S::kLn2Hi;
  r = r - k * S::kLn2Lo;
  // Horner on 1 + r + r^2/2! + ... + r^d/d!, coefficients 1/j! built up.
  T coef[S::kExpDegree + 1];
  coef[0] = T(1);
  for (int j = 1; j <= S::kExpDegree; ++j) coef[j] = coef[j - 1] / T(j);
  V p = splat<T>(coef[S::kExpDegree]);
  for (int j = S::kExpDegree - 1; j >= 0; --j) p = p * r + coef[j];
  I t_bits, p_bits;
  std::memcpy(&t_bits, &t, sizeof(t));
  std::memcpy(&p_bits, &p, sizeof(p));
  p_bits += t_bits << S::kMantissa;
  std::memcpy(&p, &p_bits, sizeof(p));
  return p;
}

// log1p(t) for t in [0, 1]: 2 atanh(s), s = t / (2 + t) in [0, 1/3], by
// its odd series; accurate in relative terms for tiny t too.
template <typename T>
inline Vec<T> log1p_unit_v(Vec<T> t) {
  using S = Simd<T>;
  const Vec<T> s = t / (t + T(2));
  const Vec<T> s2 = s * s;
  Vec<T> p = splat<T>(T(1) / T(2 * S::kAtanhTerms - 1));
  for (int j = S::kAtanhTerms - 2; j >= 0; --j) {
    p = p * s2 + T(1) / T(2 * j + 1);
  }
  return T(2) * s * p;
}

// softplus with torch's threshold: x above 20 is returned as is.
template <typename T>
inline Vec<T> softplus_v(Vec<T> x) {
  const Vec<T> neg_abs = x < T(0) ? x : -x;
  const Vec<T> soft =
      vmax<T>(x, Vec<T>{}) + log1p_unit_v<T>(exp_v<T>(neg_abs));
  return x > T(20) ? x : soft;
}

template <typename T>
inline Vec<T> sigmoid_v(Vec<T> x) {
  return T(1) / (exp_v<T>(-x) + T(1));
}

// Sum of the lanes, by halving.
template <typename T>
inline T hsum(Vec<T> v) {
  constexpr int W = Simd<T>::W;
  T s[W];
  std::memcpy(s, &v, sizeof(v));
  for (int half = W / 2; half > 0; half /= 2) {
    for (int w = 0; w < half; ++w) s[w] += s[w + half];
  }
  return s[0];
}

// A strided array: element (i0, i1, i2, i3) at p[i0 s0 + i1 s1 + ...].
template <typename T>
struct View {
  T* p = nullptr;
  Index s0 = 0, s1 = 0, s2 = 0, s3 = 0;
};

// Everything one call needs. (batch, D, L) arrays index as (b, d, t); B
// and C as (b, g, n, t); dB and dC as (b, g * splits + split, n, t), one
// slice per split of a group's tiles; A as (d, n); D and bias as (d);
// hsave as (chunk - 1, b, n, d); dA as (slot, d, n), dD and dbias as
// (slot, d), one slot per thread.
template <typename T>
struct Problem {
  Index batch, channels, length, state, groups, chunk, splits, slots;
  bool softplus, has_D, has_z, has_bias;
  View<T> u, delta, A, B, C, D, z, bias, out, hsave;
  View<T> dout, du, ddelta, dA, dB, dC, dD, dz, dbias;

  Index group_channels() const { return channels / groups; }
  Index tiles_per_group() const {
    return (group_channels() + Simd<T>::W - 1) / Simd<T>::W;
  }
  Index chunks() const { return (length + chunk - 1) / chunk; }
};

template <typename T>
Problem<T> make_problem(const std::vector<Index>& dims,
                        const std::vector<std::vector<Index>>& views) {
  if (dims.size() != 12 || views.size() != 19) {
    throw std::invalid_argument("12 sizes and 19 views expected");
  }
  Problem<T> p;
  p.batch = dims[0];
  p.channels = dims[1];
  p.length = dims[2];
  p.state = dims[3];
  p.groups = dims[4];
  p.chunk = dims[5];
  p.splits = dims[6];
  p.slots = dims[7];
  p.softplus = dims[8] != 0;
  p.has_D = dims[9] != 0;
  p.has_z = dims[10] != 0;
  p.has_bias = dims[11] != 0;
  View<T>* all[] = {&p.u,  &p.delta, &p.A,   &p.B,      &p.C,
                    &p.D,  &p.z,     &p.bias, &p.out,   &p.hsave,
                    &p.dout, &p.du,  &p.ddelta, &p.dA,  &p.dB,
                    &p.dC, &p.dD,    &p.dz,   &p.dbias};
  for (size_t i = 0; i < views.size(); ++i) {
    if (views[i].size() != 5) {
      throw std::invalid_argument("a view is a pointer and 4 strides");
    }
    all[i]->p = reinterpret_cast<T*>(views[i][0]);
    all[i]->s0 = views[i][1];
    all[i]->s1 = views[i][2];
    all[i]->s2 = views[i][3];
    all[i]->s3 = views[i][4];
  }
  return p;
}

// Steps t0 .. t0 + nt of a (batch, D, L) array for the lanes d0 .. d0 + wn
// into out[i * W + w]; padding lanes are zero.
template <typename T>
void load_chunk(const View<T>& v, Index b, Index d0, Index t0, Index nt,
                int wn, T* out) {
  constexpr int W = Simd<T>::W;
  const T* base = v.p + b * v.s0 + d0 * v.s1 + t0 * v.s2;
  if (v.s1 == 1 && wn == W) {
    for (Index i = 0; i < nt; ++i) {
      store<T>(out + i * W, load(base + i * v.s2));
    }
    return;
  }
  std::fill(out, out + nt * W, T(0));
  for (int w = 0; w < wn; ++w) {
    const T* src = base + w * v.s1;
    for (Index i = 0; i < nt; ++i) out[i * W + w] = src[i * v.s2];
  }
}

template <typename T>
void store_chunk(const View<T>& v, Index b, Index d0, Index t0, Index nt,
                 int wn, const T* in) {
  constexpr int W = Simd<T>::W;
  T* base = v.p + b * v.s0 + d0 * v.s1 + t0 * v.s2;
  if (v.s1 == 1 && wn == W) {
    for (Index i = 0; i < nt; ++i) {
      store<T>(base + i * v.s2, load(in + i * W));
    }
    return;
  }
  for (int w = 0; w < wn; ++w) {
    T* dst = base + w * v.s1;
    for (Index i = 0; i < nt; ++i) dst[i * v.s2] = in[i * W + w];
  }
}

// The per-channel parameters of one tile as lanes (zero padding): A as
// N x W values, D and the bias as vectors.
template <typename T>
struct TileParams {
  Index d0;
  int wn;
  const T* A;
  Vec<T> D, bias;
};

// The parameters of every tile (group-major), built once per call; A_lanes
// holds their A (tiles x N x W).
template <typename T>
std::vector<TileParams<T>> tile_table(const Problem<T>& p,
                                      std::vector<T>& A_lanes) {
  constexpr int W = Simd<T>::W;
  const Index tiles = p.tiles_per_group(), dg = p.group_channels();
  const Index N = p.state, count = p.groups * tiles;
  A_lanes.assign(count * N * W, T(0));
  std::vector<TileParams<T>> table(count);
  for (Index k = 0; k < count; ++k) {
    const Index g = k / tiles, j = k % tiles;
    TileParams<T>& tile = table[k];
    tile.d0 = g * dg + j * W;
    tile.wn = static_cast<int>(std::min<Index>(W, dg - j * W));
    T* A = A_lanes.data() + k * N * W;
    T d[W] = {}, bb[W] = {};
    for (int w = 0; w < tile.wn; ++w) {
      const Index c = tile.d0 + w;
      if (p.has_D) d[w] = p.D.p[c * p.D.s0];
      if (p.has_bias) bb[w] = p.bias.p[c * p.bias.s0];
      for (Index n = 0; n < N; ++n) {
        A[n * W + w] = p.A.p[c * p.A.s0 + n * p.A.s1];
      }
    }
    tile.A = A;
    tile.D = load<T>(d);
    tile.bias = load<T>(bb);
  }
  return table;
}

// Inputs of a chunk: u, the biased pre-activation, dt and dt * u.
template <typename T>
void chunk_inputs(const Problem<T>& p, const TileParams<T>& tile, Index b,
                  Index t0, Index nt, T* u, T* pre, T* dt, T* dtu) {
  constexpr int W = Simd<T>::W;
  load_chunk(p.u, b, tile.d0, t0, nt, tile.wn, u);
  load_chunk(p.delta, b, tile.d0, t0, nt, tile.wn, pre);
  for (Index i = 0; i < nt; ++i) {
    const Vec<T> x = load(pre + i * W) + tile.bias;
    const Vec<T> step = p.softplus ? softplus_v<T>(x) : x;
    store<T>(pre + i * W, x);
    store<T>(dt + i * W, step);
    store<T>(dtu + i * W, step * load(u + i * W));
  }
}

// Scratch of one thread, in elements.
template <typename T>
Index scratch_size(const Problem<T>& p, Index tiles) {
  constexpr int W = Simd<T>::W;
  const Index NW = p.state * W, KW = p.chunk * W;
  return tiles * (2 * NW + 2 * W) + NW + 4 * p.chunk * NW + 10 * KW;
}

template <typename T>
void forward_tile(const Problem<T>& p, Index b, Index g,
                  const TileParams<T>& tile, T* work) {
  constexpr int W = Simd<T>::W;
  using V = Vec<T>;
  const Index N = p.state, K = p.chunk, NW = N * W;
  const Index d0 = tile.d0;
  const int wn = tile.wn;
  const T* A_tile = tile.A;
  T* h = work;
  T* u = h + NW;
  T* pre = u + K * W;
  T* dt = pre + K * W;
  T* dtu = dt + K * W;
  T* y = dtu + K * W;
  T* zz = y + K * W;
  std::fill(h, h + NW, T(0));
  const T* Bg = p.B.p + b * p.B.s0 + g * p.B.s1;
  const T* Cg = p.C.p + b * p.C.s0 + g * p.C.s1;
  // Strides as locals: the vector stores (memcpy) could alias p's fields.
  const Index Bs2 = p.B.s2, Bs3 = p.B.s3, Cs2 = p.C.s2, Cs3 = p.C.s3;
  for (Index c = 0; c < p.chunks(); ++c) {
    const Index t0 = c * K, nt = std::min(K, p.length - t0);
    if (p.hsave.p != nullptr && c > 0) {
      T* save = p.hsave.p + (c - 1) * p.hsave.s0 + b * p.hsave.s1 + d0;
      for (Index n = 0; n < N; ++n) {
        std::memcpy(save + n * p.hsave.s2, h + n * W, wn * sizeof(T));
      }
    }
    chunk_inputs(p, tile, b, t0, nt, u, pre, dt, dtu);
    for (Index i = 0; i < nt; ++i) {
      const Index t = t0 + i;
      const T* Bt = Bg + t * Bs3;
      const T* Ct = Cg + t * Cs3;
      const V dt_i = load(dt + i * W), dtu_i = load(dtu + i * W);
      V acc{};
      for (Index n = 0; n < N; ++n) {
        const T bn = Bt[n * Bs2];
        const T cn = Ct[n * Cs2];
        const V hv = exp_v<T>(dt_i * load(A_tile + n * W)) * load(h + n * W) +
                     dtu_i * bn;
        store<T>(h + n * W, hv);
        acc += hv * cn;
      }
      store<T>(y + i * W, acc + tile.D * load(u + i * W));
    }
    if (p.has_z) {
      load_chunk(p.z, b, d0, t0, nt, wn, zz);
      for (Index i = 0; i < nt; ++i) {
        const V zv = load(zz + i * W);
        store<T>(y + i * W, load(y + i * W) * zv * sigmoid_v<T>(zv));
      }
    }
    store_chunk(p.out, b, d0, t0, nt, wn, y);
  }
}

// One task of the backward: `tiles` consecutive tiles of group g of batch
// row b, from params. They advance chunk by chunk together (last chunk
// first), so that the B and C gradients of a chunk are summed over all
// their channels as vectors before the horizontal sums.
template <typename T>
void backward_task(const Problem<T>& p, Index b, Index g, Index split,
                   const TileParams<T>* params, Index tiles, T* work,
                   Index slot) {
  constexpr int W = Simd<T>::W;
  using V = Vec<T>;
  const Index N = p.state, K = p.chunk, NW = N * W, KW = K * W;
  // Per tile, kept across chunks.
  T* carry_all = work;               // a_{t+1} dL/dh_{t+1}, tiles x N x W
  T* dA_all = carry_all + tiles * NW;
  T* dD_all = dA_all + tiles * NW;   // tiles x W
  T* dbias_all = dD_all + tiles * W;
  // Per chunk.
  T* h_start = dbias_all + tiles * W;  // N x W
  T* states = h_start + NW;          // K x N x W
  T* decays = states + K * NW;
  T* dB_acc = decays + K * NW;
  T* dC_acc = dB_acc + K * NW;
  T* u = dC_acc + K * NW;            // K x W each
  T* pre = u + KW;
  T* dt = pre + KW;
  T* dtu = dt + KW;
  T* y = dtu + KW;
  T* dy = y + KW;
  T* zz = dy + KW;
  T* dz = zz + KW;
  T* du = dz + KW;
  T* dd = du + KW;
  std::fill(carry_all, carry_all + tiles * NW, T(0));
  std::fill(dA_all, dA_all + tiles * NW, T(0));
  std::fill(dD_all, dD_all + 2 * tiles * W, T(0));
  const T* Bg = p.B.p + b * p.B.s0 + g * p.B.s1;
  const T* Cg = p.C.p + b * p.C.s0 + g * p.C.s1;
  // Strides as locals: the vector stores (memcpy) could alias p's fields.
  const Index Bs2 = p.B.s2, Bs3 = p.B.s3, Cs2 = p.C.s2, Cs3 = p.C.s3;
  const Index gs = g * p.splits + split;
  T* dBg = p.dB.p + b * p.dB.s0 + gs * p.dB.s1;
  T* dCg = p.dC.p + b * p.dC.s0 + gs * p.dC.s1;
  for (Index c = p.chunks() - 1; c >= 0; --c) {
    const Index t0 = c * K, nt = std::min(K, p.length - t0);
    std::fill(dB_acc, dB_acc + nt * NW, T(0));
    std::fill(dC_acc, dC_acc + nt * NW, T(0));
    for (Index j = 0; j < tiles; ++j) {
      const TileParams<T>& tile = params[j];
      const Index d0 = tile.d0;
      const int wn = tile.wn;
      const T* A_tile = tile.A;
      T* carry = carry_all + j * NW;
      T* dA_acc = dA_all + j * NW;
      if (c == 0) {
        std::fill(h_start, h_start + NW, T(0));
      } else {
        const T* save =
            p.hsave.p + (c - 1) * p.hsave.s0 + b * p.hsave.s1 + d0;
        for (Index n = 0; n < N; ++n) {
          std::fill(h_start + n * W, h_start + (n + 1) * W, T(0));
          std::memcpy(h_start + n * W, save + n * p.hsave.s2,
                      wn * sizeof(T));
        }
      }
      // Recompute the chunk's states and transitions (and the output
      // before the gate, which only the gate's gradient needs).
      chunk_inputs(p, tile, b, t0, nt, u, pre, dt, dtu);
      auto recompute = [&](auto with_output) {
        const T* h_prev = h_start;
        for (Index i = 0; i < nt; ++i) {
          const Index t = t0 + i;
          const T* Bt = Bg + t * Bs3;
          const T* Ct = Cg + t * Cs3;
          const V dt_i = load(dt + i * W), dtu_i = load(dtu + i * W);
          T* h = states + i * NW;
          T* a = decays + i * NW;
          constexpr bool kOutput = decltype(with_output)::value;
          V acc{};
          for (Index n = 0; n < N; ++n) {
            const V decay = exp_v<T>(dt_i * load(A_tile + n * W));
            const V hv = decay * load(h_prev + n * W) + dtu_i * Bt[n * Bs2];
            store<T>(a + n * W, decay);
            store<T>(h + n * W, hv);
            if constexpr (kOutput) acc += hv * Ct[n * Cs2];
          }
          if constexpr (kOutput) {
            store<T>(y + i * W, acc + tile.D * load(u + i * W));
          }
          h_prev = h;
        }
      };
      if (p.has_z) {
        recompute(std::true_type{});
      } else {
        recompute(std::false_type{});
      }
      // The gate: dL/dz and dL/dy before it.
      load_chunk(p.dout, b, d0, t0, nt, wn, dy);
      if (p.has_z) {
        load_chunk(p.z, b, d0, t0, nt, wn, zz);
        for (Index i = 0; i < nt; ++i) {
          const V zv = load(zz + i * W), g_out = load(dy + i * W);
          const V sig = sigmoid_v<T>(zv);
          store<T>(dz + i * W, g_out * load(y + i * W) * sig *
                                   (zv * (T(1) - sig) + T(1)));
          store<T>(dy + i * W, g_out * zv * sig);
        }
        store_chunk(p.dz, b, d0, t0, nt, wn, dz);
      }
      // Reverse recurrence.
      V dD_acc = load(dD_all + j * W), dbias_acc = load(dbias_all + j * W);
      for (Index i = nt - 1; i >= 0; --i) {
        const Index t = t0 + i;
        const T* Bt = Bg + t * Bs3;
        const T* Ct = Cg + t * Cs3;
        const V dy_i = load(dy + i * W), dt_i = load(dt + i * W);
        const V dtu_i = load(dtu + i * W), u_i = load(u + i * W);
        const T* h = states + i * NW;
        const T* a = decays + i * NW;
        const T* hp = i > 0 ? states + (i - 1) * NW : h_start;
        T* dBi = dB_acc + i * NW;
        T* dCi = dC_acc + i * NW;
        V ddtu{}, ddt{};
        for (Index n = 0; n < N; ++n) {
          const T bn = Bt[n * Bs2];
          const T cn = Ct[n * Cs2];
          const V a_n = load(a + n * W);
          const V gh = load(carry + n * W) + dy_i * cn;  // dL/dh_t
          store<T>(dCi + n * W, load(dCi + n * W) + dy_i * load(h + n * W));
          store<T>(dBi + n * W, load(dBi + n * W) + dtu_i * gh);
          ddtu += gh * bn;
          const V m = gh * load(hp + n * W) * a_n;  // dL/d(dt A)
          store<T>(dA_acc + n * W, load(dA_acc + n * W) + m * dt_i);
          ddt += m * load(A_tile + n * W);
          store<T>(carry + n * W, gh * a_n);
        }
        dD_acc += dy_i * u_i;
        store<T>(du + i * W, ddtu * dt_i + dy_i * tile.D);
        V dpre = ddt + ddtu * u_i;
        if (p.softplus) dpre *= sigmoid_v<T>(load(pre + i * W));
        dbias_acc += dpre;
        store<T>(dd + i * W, dpre);
      }
      store<T>(dD_all + j * W, dD_acc);
      store<T>(dbias_all + j * W, dbias_acc);
      store_chunk(p.du, b, d0, t0, nt, wn, du);
      store_chunk(p.ddelta, b, d0, t0, nt, wn, dd);
    }
    for (Index i = 0; i < nt; ++i) {
      const Index t = t0 + i;
      for (Index n = 0; n < N; ++n) {
        const Index at = (i * N + n) * W;
        dBg[n * p.dB.s2 + t * p.dB.s3] = hsum<T>(load(dB_acc + at));
        dCg[n * p.dC.s2 + t * p.dC.s3] = hsum<T>(load(dC_acc + at));
      }
    }
  }
  T* dA = p.dA.p + slot * p.dA.s0;
  for (Index j = 0; j < tiles; ++j) {
    const TileParams<T>& tile = params[j];
    for (int w = 0; w < tile.wn; ++w) {
      const Index d = tile.d0 + w;
      for (Index n = 0; n < N; ++n) {
        dA[d * p.dA.s1 + n * p.dA.s2] += dA_all[(j * N + n) * W + w];
      }
      if (p.has_D) {
        p.dD.p[slot * p.dD.s0 + d * p.dD.s1] += dD_all[j * W + w];
      }
      if (p.has_bias) {
        p.dbias.p[slot * p.dbias.s0 + d * p.dbias.s1] +=
            dbias_all[j * W + w];
      }
    }
  }
}

template <typename T>
void forward_impl(const std::vector<Index>& dims,
                  const std::vector<std::vector<Index>>& views) {
  const Problem<T> p = make_problem<T>(dims, views);
  std::vector<T> A_lanes;
  const std::vector<TileParams<T>> table = tile_table(p, A_lanes);
  const Index tiles = p.tiles_per_group();
  const Index tasks = p.batch * p.groups * tiles;
  at::parallel_for(0, tasks, 1, [&](Index begin, Index end) {
    std::vector<T> work(scratch_size(p, 1));
    for (Index task = begin; task < end; ++task) {
      const Index gj = task % (p.groups * tiles);
      const Index b = task / (p.groups * tiles);
      forward_tile(p, b, gj / tiles, table[gj], work.data());
    }
  });
}

template <typename T>
void backward_impl(const std::vector<Index>& dims,
                   const std::vector<std::vector<Index>>& views) {
  const Problem<T> p = make_problem<T>(dims, views);
  std::vector<T> A_lanes;
  const std::vector<TileParams<T>> table = tile_table(p, A_lanes);
  const Index tiles = p.tiles_per_group();
  const Index per_split = (tiles + p.splits - 1) / p.splits;
  const Index tasks = p.batch * p.groups * p.splits;
  at::parallel_for(0, tasks, 1, [&](Index begin, Index end) {
    const Index slot = at::get_thread_num();
    if (slot < 0 || slot >= p.slots) {
      throw std::runtime_error("more threads than gradient slots");
    }
    std::vector<T> work(scratch_size(p, per_split));
    for (Index task = begin; task < end; ++task) {
      const Index split = task % p.splits, bg = task / p.splits;
      const Index g = bg % p.groups, b = bg / p.groups;
      const Index j0 = std::min(tiles, split * per_split);
      const Index j1 = std::min(tiles, j0 + per_split);
      backward_task(p, b, g, split, table.data() + g * tiles + j0, j1 - j0,
                    work.data(), slot);
    }
  });
}

void forward(const std::vector<Index>& dims,
             const std::vector<std::vector<Index>>& views, bool is_double) {
  if (is_double) {
    forward_impl<double>(dims, views);
  } else {
    forward_impl<float>(dims, views);
  }
}

void backward(const std::vector<Index>& dims,
              const std::vector<std::vector<Index>>& views, bool is_double) {
  if (is_double) {
    backward_impl<double>(dims, views);
  } else {
    backward_impl<float>(dims, views);
  }
}

// Throughput probe of exp_v for tools/benchmark_scan.py: `reps` passes of
// v = exp(-8 v) over n float32 values (a multiple of the lanes) starting
// from x, one copy per thread in out (threads x n), on torch's threads.
void exp_probe(Index x_ptr, Index out_ptr, Index n, Index reps) {
  constexpr int W = Simd<float>::W;
  const float* x = reinterpret_cast<const float*>(x_ptr);
  float* out = reinterpret_cast<float*>(out_ptr);
  at::parallel_for(0, reps, 1, [&](Index begin, Index end) {
    float* o = out + at::get_thread_num() * n;
    std::memcpy(o, x, n * sizeof(float));
    for (Index r = begin; r < end; ++r) {
      for (Index i = 0; i + W <= n; i += W) {
        store<float>(o + i, exp_v<float>(load(o + i) * -8.0f));
      }
    }
  });
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &forward, "selective scan forward");
  m.def("backward", &backward, "selective scan backward");
  m.def("exp_probe", &exp_probe, "exp throughput probe");
  m.def("lanes", [](bool is_double) {
    return is_double ? Simd<double>::W : Simd<float>::W;
  });
}
'''
