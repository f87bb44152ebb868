import CTesseraShims

/// The vector type of every micro-kernel: 8 Float32 lanes, one AVX2 register. Changing it (and
/// the micro-tile constants) retargets the kernels to AVX-512 or NEON.
public typealias Vec = SIMD8<Float>

/// `c + a·b`. With FMA compiled in (`-Xcc -march=native` or `x86-64-v3`) this is one `vfmadd`;
/// without it, `addingProduct` would become a per-lane call to `fmaf` (measured ~100× slower),
/// so the build falls back to a separate multiply and add. `TESSERA_HAS_FMA` is a C macro the
/// optimizer folds, so the branch costs nothing.
@inline(__always)
func fma(_ a: Vec, _ b: Vec, _ c: Vec) -> Vec {
  if fmaCompiledIn {
    return c.addingProduct(a, b)
  } else {
    return c + a * b
  }
}

/// Whether the build targets FMA. A global constant rather than the macro in the `if`, so the
/// compiler folds it without warning that one branch is dead.
let fmaCompiledIn = TESSERA_HAS_FMA != 0

/// log2(e): the kernel works in base 2 (`exp2` is cheaper than `exp`), so Q is pre-scaled by
/// `scale·log2(e)` and the log-sum-exp is converted back with ln(2).
let log2e: Float = 1.442_695_040_888_963_4
let ln2: Float = 0.693_147_180_559_945_3

/// Vectorized 2^x for x ≤ 0 (softmax inputs after the running max is subtracted).
///
/// x = n + f with n = round(x) (magic-number rounding: adding 1.5·2²³ leaves round(x) in the low
/// mantissa bits) and f ∈ [−½, ½]; 2^f is a degree-6 polynomial (Cephes `exp2f` coefficients),
/// 2^n is built in the exponent field. Inputs below −126 (including −∞ from masking) give 0.
/// Measured max relative error over [−126, 0] (`ExpTests`, dense grid): 7.9e-8 with FMA,
/// 1.0e-7 without (≈ 1 ulp); the tests assert ≤ 1.5e-7.
@inline(__always)
func exp2(_ x: Vec) -> Vec {
  let magic = Vec(repeating: 12_582_912)  // 1.5·2²³
  let xc = x.replacing(with: -126, where: x .< -126)
  let t = xc + magic
  let n = t - magic
  let f = xc - n
  var p = Vec(repeating: 1.535_336_188_319_500e-4)
  p = fma(p, f, Vec(repeating: 1.339_887_440_266_574e-3))
  p = fma(p, f, Vec(repeating: 9.618_437_357_674_640e-3))
  p = fma(p, f, Vec(repeating: 5.550_332_471_162_809e-2))
  p = fma(p, f, Vec(repeating: 2.402_264_791_363_012e-1))
  p = fma(p, f, Vec(repeating: 6.931_472_028_550_421e-1))
  p = fma(p, f, Vec(repeating: 1))
  // n is in the low bits of t's mantissa: bits(t) − bits(magic) = n for |n| < 2²².
  let ni = unsafeBitCast(t, to: SIMD8<Int32>.self) &- 0x4B40_0000
  let scaleBits = (ni &+ 127) &<< 23
  let result = p * unsafeBitCast(scaleBits, to: Vec.self)
  return result.replacing(with: 0, where: x .< -126)
}

/// Scalar 2^x with the same algorithm, for tests and tails.
public func tesseraExp2(_ x: Float) -> Float {
  exp2(Vec(repeating: x))[0]
}

/// The largest lane of `v`. `SIMD.max()` is not specialized for `SIMD8<Float>` and stays a
/// generic call (2.8 % of decode time in `perf`); two halving steps are 4 instructions.
@inline(__always)
func horizontalMax(_ v: Vec) -> Float {
  let a = v.lowHalf.replacing(with: v.highHalf, where: v.highHalf .> v.lowHalf)
  let b = a.lowHalf.replacing(with: a.highHalf, where: a.highHalf .> a.lowHalf)
  return b[1] > b[0] ? b[1] : b[0]
}
