"""Fast fused blocks for CPU training: GroupNorm(+modulation)(+SiLU) and multi-head attention.

Why (JITTOR.md §6): Jittor's generated CPU kernels run on one core and its GroupNorm reductions
run below 1 GB/s; 3-D/4-D `jt.matmul` is a naive broadcast-multiply-reduce, not oneDNN. These ops
are `jt.code` kernels compiled with -fopenmp:
- `group_norm`, `group_norm_modulate`: one pass for the statistics and one for the output per
  (sample, group), threads over (sample, group); a hand-written backward (recomputes x̂ from the
  saved mean and 1/std) so no intermediate of the composite formulation is kept.
- `attention`: softmax(QKᵀ/√d)V per (sample, head) with oneDNN's `dnnl_sgemm` reading the heads
  in place (leading dimensions, no transposes), softmax fused, threads over (sample, head); the
  backward uses the saved probabilities and four more sgemm calls.
Every op equals its plain formulation (`*_plain`, the code the models used before) to float
tolerance; tests/test_lsgen_ops.py checks values and gradients.

Selection: LSGEN_FAST_OPS=0 forces the plain path everywhere (also `set_fast(False)`). On CUDA
the plain path is used (Jittor maps it to cuDNN/cuBLAS) unless LSGEN_FAST_OPS=cuda, which enables
the CUDA GroupNorm kernels below; they were written without a GPU to test on and are UNTESTED.
"""
from __future__ import annotations

import os

from lsgen.runtime import jt

_MODE = os.environ.get("LSGEN_FAST_OPS", "1").strip().lower()
_state = {"fast": _MODE not in ("0", "false", "off", "no")}


def set_fast(enabled: bool) -> None:
    """Turn the fused kernels on or off for this process (the plain path is the reference)."""
    _state["fast"] = bool(enabled)


def fast_enabled() -> bool:
    """True when the fused kernels are used for the current device."""
    if not _state["fast"]:
        return False
    return not jt.flags.use_cuda or _MODE == "cuda"


# ---------------------------------------------------------------- GroupNorm (+ modulation) (+ SiLU)

_GN_HEADER = """
#include <cmath>
#include <algorithm>
"""

# Affine mode (MOD 0): z = x̂·w[c] + b[c]; modulation mode (MOD 1): z = x̂·(1 + γ) + β, γ, β maps.
_GN_FWD = """
const int B = in0_shape0, C = in0_shape1, G = out1_shape1, CG = C / G;
const long HW = (long)in0_shape2 * in0_shape3, n = CG * HW;
#pragma omp parallel for schedule(dynamic)
for (int u = 0; u < B * G; u++) {
    const int b = u / G, g = u % G;
    const float* xp = in0_p + (long)u * n;
    double s = 0, ss = 0;
    for (int cc = 0; cc < CG; cc++) {
        const float* xr = xp + cc * HW; float acc = 0;
        for (long i = 0; i < HW; i++) acc += xr[i];
        s += acc;
    }
    const float mean = (float)(s / n);
    for (int cc = 0; cc < CG; cc++) {
        const float* xr = xp + cc * HW; float acc = 0;
        for (long i = 0; i < HW; i++) { float d = xr[i] - mean; acc += d * d; }
        ss += acc;
    }
    const float rstd = 1.0f / std::sqrt((float)(ss / n) + (float)EPS);
    out1_p[u] = mean; out2_p[u] = rstd;
    for (int cc = 0; cc < CG; cc++) {
        const int c = g * CG + cc;
        const long off = ((long)b * C + c) * HW;
        const float* xr = in0_p + off; float* yr = out0_p + off;
#if MOD
        const float* gr = in1_p + off; const float* br = in2_p + off;
        for (long i = 0; i < HW; i++) {
            float z = (xr[i] - mean) * rstd * (1.0f + gr[i]) + br[i];
            yr[i] = SILU ? z / (1.0f + std::exp(-z)) : z;
        }
#else
        const float a = rstd * in1_p[c], sh = in2_p[c] - mean * a;
        for (long i = 0; i < HW; i++) {
            float z = xr[i] * a + sh;
            yr[i] = SILU ? z / (1.0f + std::exp(-z)) : z;
        }
#endif
    }
}
"""

# Inputs: x, scale, shift, mean, rstd, dy. Outputs: dx, then (MOD 0) dw, db partial sums per
# (sample, channel), or (MOD 1) dγ, dβ maps. dx = rstd·(dx̂ - mean(dx̂) - x̂·mean(dx̂·x̂)) per group;
# pass 1 writes dx̂ into dx and accumulates the two means, pass 2 finishes dx in place.
_GN_BWD = """
const int B = in0_shape0, C = in0_shape1, G = in3_shape1, CG = C / G;
const long HW = (long)in0_shape2 * in0_shape3, n = CG * HW;
#pragma omp parallel for schedule(dynamic)
for (int u = 0; u < B * G; u++) {
    const int b = u / G, g = u % G;
    const float mean = in3_p[u], rstd = in4_p[u];
    double s1 = 0, s2 = 0;
    for (int cc = 0; cc < CG; cc++) {
        const int c = g * CG + cc;
        const long off = ((long)b * C + c) * HW;
        const float* xr = in0_p + off; const float* dyr = in5_p + off; float* dxr = out0_p + off;
        float a1 = 0, a2 = 0, p1 = 0, p2 = 0;
#if MOD
        const float* gr = in1_p + off; const float* br = in2_p + off;
        float* dgr = out1_p + off; float* dbr = out2_p + off;
        for (long i = 0; i < HW; i++) {
            float xh = (xr[i] - mean) * rstd, a = 1.0f + gr[i], z = xh * a + br[i], dz = dyr[i];
            if (SILU) { float sg = 1.0f / (1.0f + std::exp(-z)); dz *= sg * (1.0f + z * (1.0f - sg)); }
            float dxh = dz * a;
            dgr[i] = dz * xh; dbr[i] = dz; dxr[i] = dxh;
            a1 += dxh; a2 += dxh * xh;
        }
#else
        const float a = in1_p[c], sh = in2_p[c];
        for (long i = 0; i < HW; i++) {
            float xh = (xr[i] - mean) * rstd, z = xh * a + sh, dz = dyr[i];
            if (SILU) { float sg = 1.0f / (1.0f + std::exp(-z)); dz *= sg * (1.0f + z * (1.0f - sg)); }
            float dxh = dz * a;
            dxr[i] = dxh; a1 += dxh; a2 += dxh * xh; p1 += dz * xh; p2 += dz;
        }
        out1_p[(long)b * C + c] = p1; out2_p[(long)b * C + c] = p2;
#endif
        s1 += a1; s2 += a2;
    }
    const float m1 = (float)(s1 / n), m2 = (float)(s2 / n);
    for (int cc = 0; cc < CG; cc++) {
        const long off = ((long)b * C + g * CG + cc) * HW;
        const float* xr = in0_p + off; float* dxr = out0_p + off;
        for (long i = 0; i < HW; i++) {
            float xh = (xr[i] - mean) * rstd;
            dxr[i] = rstd * (dxr[i] - m1 - xh * m2);
        }
    }
}
"""

# CUDA twins (UNTESTED: no GPU was available). One thread block per (sample, group).
_GN_CUDA_FWD = """
__global__ void gn_fwd(const float* x, const float* sc, const float* sf, float* y, float* mo, float* ro,
                       int C, int G, long HW) {
    const int u = blockIdx.x, b = u / G, g = u % G, CG = C / G;
    const long n = CG * HW; const float* xp = x + (long)u * n;
    __shared__ float red[2][256];
    float s = 0, ss = 0;
    for (long i = threadIdx.x; i < n; i += blockDim.x) { float v = xp[i]; s += v; ss += v * v; }
    red[0][threadIdx.x] = s; red[1][threadIdx.x] = ss; __syncthreads();
    for (int k = blockDim.x / 2; k > 0; k >>= 1) {
        if (threadIdx.x < k) { red[0][threadIdx.x] += red[0][threadIdx.x + k]; red[1][threadIdx.x] += red[1][threadIdx.x + k]; }
        __syncthreads();
    }
    const float mean = red[0][0] / n, var = fmaxf(red[1][0] / n - mean * mean, 0.f), rstd = rsqrtf(var + (float)EPS);
    if (threadIdx.x == 0) { mo[u] = mean; ro[u] = rstd; }
    for (long i = threadIdx.x; i < n; i += blockDim.x) {
        const int c = g * CG + (int)(i / HW); const long idx = (long)u * n + i;
#if MOD
        float z = (x[idx] - mean) * rstd * (1.f + sc[idx]) + sf[idx];
#else
        float z = (x[idx] - mean) * rstd * sc[c] + sf[c];
#endif
        y[idx] = SILU ? z / (1.f + __expf(-z)) : z;
    }
}
"""
_GN_CUDA_FWD_CALL = """
gn_fwd<<<out1_shape0 * out1_shape1, 256>>>(in0_p, in1_p, in2_p, out0_p, out1_p, out2_p,
    in0_shape1, out1_shape1, (long)in0_shape2 * in0_shape3);
"""
_GN_CUDA_BWD = """
__global__ void gn_bwd(const float* x, const float* sc, const float* sf, const float* mo, const float* ro,
                       const float* dy, float* dx, float* o1, float* o2, int C, int G, long HW) {
    const int u = blockIdx.x, b = u / G, g = u % G, CG = C / G;
    const long n = CG * HW; const float mean = mo[u], rstd = ro[u];
    __shared__ float red[2][256];
    float a1 = 0, a2 = 0;
    for (long i = threadIdx.x; i < n; i += blockDim.x) {
        const int c = g * CG + (int)(i / HW); const long idx = (long)u * n + i;
        float xh = (x[idx] - mean) * rstd;
#if MOD
        float a = 1.f + sc[idx], z = xh * a + sf[idx];
#else
        float a = sc[c], z = xh * a + sf[c];
#endif
        float dz = dy[idx];
        if (SILU) { float sg = 1.f / (1.f + __expf(-z)); dz *= sg * (1.f + z * (1.f - sg)); }
        float dxh = dz * a; dx[idx] = dxh; a1 += dxh; a2 += dxh * xh;
#if MOD
        o1[idx] = dz * xh; o2[idx] = dz;
#else
        atomicAdd(o1 + (long)b * C + c, dz * xh); atomicAdd(o2 + (long)b * C + c, dz);
#endif
    }
    red[0][threadIdx.x] = a1; red[1][threadIdx.x] = a2; __syncthreads();
    for (int k = blockDim.x / 2; k > 0; k >>= 1) {
        if (threadIdx.x < k) { red[0][threadIdx.x] += red[0][threadIdx.x + k]; red[1][threadIdx.x] += red[1][threadIdx.x + k]; }
        __syncthreads();
    }
    const float m1 = red[0][0] / n, m2 = red[1][0] / n;
    for (long i = threadIdx.x; i < n; i += blockDim.x) {
        const long idx = (long)u * n + i; float xh = (x[idx] - mean) * rstd;
        dx[idx] = rstd * (dx[idx] - m1 - xh * m2);
    }
}
"""
_GN_CUDA_BWD_CALL = """
#if !MOD
cudaMemsetAsync(out1_p, 0, out1->size); cudaMemsetAsync(out2_p, 0, out2->size);
#endif
gn_bwd<<<in3_shape0 * in3_shape1, 256>>>(in0_p, in1_p, in2_p, in3_p, in4_p, in5_p, out0_p, out1_p, out2_p,
    in0_shape1, in3_shape1, (long)in0_shape2 * in0_shape3);
"""


def _defines(eps: float, silu: bool, mod: bool) -> str:
    return f"#define EPS {float(eps)!r}\n#define SILU {int(silu)}\n#define MOD {int(mod)}\n"


class _GroupNormAct(jt.Function):
    """y = act(GroupNorm(x) · scale + shift); scale/shift are (C,) (mod=False) or maps (mod=True)."""

    def __init__(self, groups: int, eps: float, silu: bool, mod: bool):
        self.groups, self.eps, self.silu, self.mod = groups, eps, silu, mod

    def _code(self, shapes, dtypes, inputs, cpu, cuda_head, cuda_call):
        head = _defines(self.eps, self.silu, self.mod)
        if jt.flags.use_cuda:
            return jt.code(shapes, dtypes, inputs, cuda_header=head + cuda_head, cuda_src=cuda_call)
        return jt.code(shapes, dtypes, inputs, cpu_header=head + _GN_HEADER, cpu_src=cpu)

    def execute(self, x, scale, shift):
        b, c = x.shape[:2]
        stats = (b, self.groups)
        y, mean, rstd = self._code([x.shape, stats, stats], [x.dtype] * 3, [x, scale, shift],
                                   _GN_FWD, _GN_CUDA_FWD, _GN_CUDA_FWD_CALL)
        self.saved = (x, scale, shift, mean.stop_grad(), rstd.stop_grad())
        return y

    def grad(self, dy):
        x, scale, shift, mean, rstd = self.saved
        b, c = x.shape[:2]
        side = x.shape if self.mod else (b, c)
        dx, d1, d2 = self._code([x.shape, side, side], [x.dtype] * 3, [x, scale, shift, mean, rstd, dy],
                                _GN_BWD, _GN_CUDA_BWD, _GN_CUDA_BWD_CALL)
        if self.mod:
            return dx, d1, d2
        return dx, d1.sum(dim=0), d2.sum(dim=0)


def _affine(norm, channels: int):
    """(weight, bias) of a Jittor GroupNorm as (C,) Vars (affine=False stores plain floats)."""
    w = norm.weight if isinstance(norm.weight, jt.Var) else jt.full((channels,), float(norm.weight))
    b = norm.bias if isinstance(norm.bias, jt.Var) else jt.full((channels,), float(norm.bias))
    return w, b


def group_norm_plain(x, norm, silu: bool = False):
    y = norm(x)
    return jt.nn.silu(y) if silu else y


def group_norm(x, norm, silu: bool = False):
    """act(norm(x)) for a `jt.nn.GroupNorm` module `norm` and x (B, C, H, W) float32.

    Same value as `silu(norm(x))` / `norm(x)`, fused and multi-threaded when fast ops are on.
    """
    if not fast_enabled() or x.ndim != 4 or x.dtype != "float32":
        return group_norm_plain(x, norm, silu)
    w, b = _affine(norm, x.shape[1])
    return _GroupNormAct(norm.num_groups, norm.eps, silu, False)(x, w, b)


def group_norm_modulate_plain(x, norm, gamma, beta, silu: bool = False):
    y = norm(x) * (1 + gamma) + beta
    return jt.nn.silu(y) if silu else y


def group_norm_modulate(x, norm, gamma, beta, silu: bool = False):
    """act(norm(x) · (1 + gamma) + beta): SPADE's modulation (Park et al. 2019, eq. 1) of a
    parameter-free GroupNorm `norm`; x, gamma, beta (B, C, H, W) float32."""
    if not fast_enabled() or x.ndim != 4 or x.dtype != "float32" or tuple(gamma.shape) != tuple(x.shape) \
            or tuple(beta.shape) != tuple(x.shape):
        return group_norm_modulate_plain(x, norm, gamma, beta, silu)
    return _GroupNormAct(norm.num_groups, norm.eps, silu, True)(x, gamma, beta)


# ---------------------------------------------------------------- attention

# A "view" of one (sample, head) operand: logical rows x d columns. Token-major storage (B, N, C):
# element (r, j) at base + r*C + h*d + j (ld = C). Channel-major storage (B, C, N): at
# base + (h*d + j)*N + r, i.e. the transpose with ld = N. `gemm` folds the storage transposes into
# dnnl_sgemm's flags (row-major C = alpha·op(A)·op(B) + beta·C).
_ATT_HEADER = """
#include <cmath>
#include <vector>
#include <dnnl.h>
struct View { float* p; long ld; bool tr; };
static inline void gemm(bool ta, View A, bool tb, View B, long m, long n, long k, float alpha, View Cv) {
    if (Cv.tr) { std::swap(A, B); std::swap(ta, tb); ta = !ta; tb = !tb; std::swap(m, n); }
    bool fa = ta != A.tr, fb = tb != B.tr;
    dnnl_sgemm(fa ? 'T' : 'N', fb ? 'T' : 'N', m, n, k, alpha, A.p, A.ld, B.p, B.ld, 0.0f, Cv.p, Cv.ld);
}
static inline View view(float* base, long b, long h, long rows, long C, long d, bool chan_major) {
    return chan_major ? View{base + b * rows * C + h * d * rows, rows, true}
                      : View{base + b * rows * C + h * d, C, false};
}
"""

# Inputs q (B,N,C), k, v (B,M,C) [or (B,C,N), (B,C,M) with CHAN]. Outputs: out like q, P (B*H,N,M).
_ATT_FWD = """
const long B = out1_shape0 / HEADS, N = out1_shape1, M = out1_shape2;
const long C = CHAN ? in0_shape1 : in0_shape2, d = C / HEADS;
const float scale = 1.0f / std::sqrt((float)d);
#pragma omp parallel for schedule(dynamic)
for (long u = 0; u < B * HEADS; u++) {
    const long b = u / HEADS, h = u % HEADS;
    float* P = out1_p + u * N * M;
    View q = view(in0_p, b, h, N, C, d, CHAN), k = view(in1_p, b, h, M, C, d, CHAN);
    View v = view(in2_p, b, h, M, C, d, CHAN), o = view(out0_p, b, h, N, C, d, CHAN);
    gemm(false, q, true, k, N, M, d, scale, View{P, M, false});
    for (long r = 0; r < N; r++) {
        float* row = P + r * M; float mx = row[0];
        for (long j = 1; j < M; j++) mx = std::max(mx, row[j]);
        float s = 0;
        for (long j = 0; j < M; j++) { row[j] = std::exp(row[j] - mx); s += row[j]; }
        const float inv = 1.0f / s;
        for (long j = 0; j < M; j++) row[j] *= inv;
    }
    gemm(false, View{P, M, false}, false, v, N, d, M, 1.0f, o);
}
"""

# Inputs q, k, v, P, dout. Outputs dq, dk, dv. dS = P∘(dP - rowsum(dP∘P)), dP = dO·Vᵀ.
_ATT_BWD = """
const long B = in3_shape0 / HEADS, N = in3_shape1, M = in3_shape2;
const long C = CHAN ? in0_shape1 : in0_shape2, d = C / HEADS;
const float scale = 1.0f / std::sqrt((float)d);
#pragma omp parallel for schedule(dynamic)
for (long u = 0; u < B * HEADS; u++) {
    const long b = u / HEADS, h = u % HEADS;
    const float* P = in3_p + u * N * M;
    std::vector<float> dS(N * M);
    View q = view(in0_p, b, h, N, C, d, CHAN), k = view(in1_p, b, h, M, C, d, CHAN);
    View v = view(in2_p, b, h, M, C, d, CHAN), dout = view(in4_p, b, h, N, C, d, CHAN);
    View Pv{(float*)P, M, false}, dSv{dS.data(), M, false};
    gemm(true, Pv, false, dout, M, d, N, 1.0f, view(out2_p, b, h, M, C, d, CHAN));
    gemm(false, dout, true, v, N, M, d, 1.0f, dSv);
    for (long r = 0; r < N; r++) {
        const float* pr = P + r * M; float* sr = dS.data() + r * M; float dot = 0;
        for (long j = 0; j < M; j++) dot += pr[j] * sr[j];
        for (long j = 0; j < M; j++) sr[j] = pr[j] * (sr[j] - dot);
    }
    gemm(false, dSv, false, k, N, d, M, scale, view(out0_p, b, h, N, C, d, CHAN));
    gemm(true, dSv, false, q, M, d, N, scale, view(out1_p, b, h, M, C, d, CHAN));
}
"""


class _Attention(jt.Function):
    def __init__(self, heads: int, channels_first: bool):
        self.heads, self.chan = heads, channels_first

    def _head(self) -> str:
        return f"#define HEADS {self.heads}\n#define CHAN {int(self.chan)}\n" + _ATT_HEADER

    def execute(self, q, k, v):
        b = q.shape[0]
        n, m = (q.shape[2], k.shape[2]) if self.chan else (q.shape[1], k.shape[1])
        out, probs = jt.code([q.shape, (b * self.heads, n, m)], [q.dtype, q.dtype], [q, k, v],
                             cpu_header=self._head(), cpu_src=_ATT_FWD)
        self.saved = (q, k, v, probs.stop_grad())
        return out

    def grad(self, dout):
        q, k, v, probs = self.saved
        return jt.code([q.shape, k.shape, v.shape], [q.dtype] * 3, [q, k, v, probs, dout],
                       cpu_header=self._head(), cpu_src=_ATT_BWD)


def attention_plain(q, k, v, heads: int):
    """Scaled dot-product attention (Vaswani et al. 2017, eq. 1). q (B,N,C), k/v (B,M,C) -> (B,N,C)."""
    b, n, c = q.shape
    m, d = k.shape[1], c // heads
    q = q.reshape(b, n, heads, d).transpose(0, 2, 1, 3)
    k = k.reshape(b, m, heads, d).transpose(0, 2, 3, 1)
    v = v.reshape(b, m, heads, d).transpose(0, 2, 1, 3)
    weights = jt.nn.softmax(jt.matmul(q, k) * (d ** -0.5), dim=-1)
    return jt.matmul(weights, v).transpose(0, 2, 1, 3).reshape(b, n, c)


def _attention_ok(q, k, v, heads: int) -> bool:
    return (fast_enabled() and not jt.flags.use_cuda and q.ndim == 3 and k.ndim == 3
            and all(t.dtype == "float32" for t in (q, k, v)))


def attention(q, k, v, heads: int):
    """Multi-head attention, q (B,N,C), k/v (B,M,C) float32 -> (B,N,C); C divisible by heads."""
    if not _attention_ok(q, k, v, heads):
        return attention_plain(q, k, v, heads)
    return _Attention(heads, False)(q, k, v)


def attention_channels_first_plain(q, k, v):
    """Single-head attention over positions with channels first: q (B,C,N), k/v (B,C,M) -> (B,C,N)."""
    c = q.shape[1]
    weights = jt.nn.softmax(jt.bmm(q.transpose(0, 2, 1), k) / (c ** 0.5), dim=2)
    return jt.bmm(v, weights.transpose(0, 2, 1))


def attention_channels_first(q, k, v):
    """Same value as `attention_channels_first_plain`, without transposes (the VAE's layout)."""
    if not _attention_ok(q, k, v, 1):
        return attention_channels_first_plain(q, k, v)
    return _Attention(1, True)(q, k, v)
