#ifndef TESSERA_SHIMS_H
#define TESSERA_SHIMS_H

// Compile-time ISA probe. Swift imports these integer macros as constants, so `if TESSERA_HAS_FMA
// != 0` folds away in the optimizer. They follow the target flags given to the build
// (`-Xcc -march=native`): without them the Swift SIMD code must not call `fmaf` per lane
// (measured ~100x slower), so the kernels use multiply + add instead.
#if defined(__FMA__)
#define TESSERA_HAS_FMA 1
#else
#define TESSERA_HAS_FMA 0
#endif
#if defined(__AVX2__)
#define TESSERA_HAS_AVX2 1
#else
#define TESSERA_HAS_AVX2 0
#endif
#if defined(__F16C__)
#define TESSERA_HAS_F16C 1
#else
#define TESSERA_HAS_F16C 0
#endif
#if defined(__AVX512F__)
#define TESSERA_HAS_AVX512F 1
#else
#define TESSERA_HAS_AVX512F 0
#endif

/// Runtime CPU features (cpuid), to warn when the CPU has them but the build does not.
/// Bit 0: AVX2, bit 1: FMA, bit 2: F16C, bit 3: AVX-512F.
int tessera_cpu_features(void);

/// CPU model string from cpuid (brand string), written into `buffer` (at least 49 bytes).
void tessera_cpu_brand(char *buffer, int capacity);

// Thread affinity. `import Glibc` does not expose `pthread_setaffinity_np`, `sched_getcpu` or
// the CPU_SET macros (they need _GNU_SOURCE), so the runtime goes through these wrappers. The
// mask is a plain bit array (CPUs 0..<TESSERA_MAX_CPUS) so Swift never sees `cpu_set_t`.
#define TESSERA_MAX_CPUS 4096
typedef struct {
  unsigned long long words[TESSERA_MAX_CPUS / 64];
} tessera_cpu_mask;

/// The calling thread's affinity mask into `mask`; 0 on success, an errno value otherwise.
int tessera_thread_get_affinity(tessera_cpu_mask *mask);

/// Binds the calling thread to the CPUs in `mask`; 0 on success, an errno value otherwise
/// (EINVAL when no CPU of the mask is online and allowed).
int tessera_thread_set_affinity(const tessera_cpu_mask *mask);

/// The CPU the calling thread runs on now (`sched_getcpu`), -1 when unknown.
int tessera_current_cpu(void);

/// Software prefetch into all cache levels (`prefetcht0` on x86). Swift has no prefetch
/// intrinsic; a static inline function of an imported header is compiled by clang into the
/// caller's module and inlined: one instruction per call.
static inline void tessera_prefetch_l1(const void *address) { __builtin_prefetch(address, 0, 3); }

/// 8 floats; Swift imports it as `SIMD8<Float>`.
typedef float tessera_float8 __attribute__((ext_vector_type(8)));
typedef _Float16 tessera_half8 __attribute__((ext_vector_type(8)));

/// The 8 Float16 values at `address` (any alignment) widened to Float: one `vcvtph2ps` with
/// F16C. Swift's `SIMD8<Float>(SIMD8<Float16>)` is a generic initializer that LLVM inlines at
/// its discretion; a static inline C function is always inlined (see DecodeKernel).
static inline tessera_float8 tessera_widen_half8(const void *address) {
  tessera_half8 h;
  __builtin_memcpy(&h, address, sizeof h);
  return __builtin_convertvector(h, tessera_float8);
}

/// The 8 BFloat16 values at `address` (any alignment) widened to Float: each is the upper half
/// of a Float32 (`vpmovzxwd` and a shift by 16).
static inline tessera_float8 tessera_widen_bfloat8(const void *address) {
  typedef unsigned short u16x8 __attribute__((ext_vector_type(8)));
  typedef unsigned int u32x8 __attribute__((ext_vector_type(8)));
  u16x8 h;
  __builtin_memcpy(&h, address, sizeof h);
  u32x8 bits = __builtin_convertvector(h, u32x8) << 16;
  tessera_float8 f;
  __builtin_memcpy(&f, &bits, sizeof f);
  return f;
}

#endif
