import Foundation
import Tessera
import Testing

// MARK: - Deterministic random numbers

/// SplitMix64 (Steele, Lea & Flood 2014): a tiny, fast, fully deterministic generator, so every
/// failing case can be reproduced from its seed on any machine.
struct SplitMix64: RandomNumberGenerator {
  private var state: UInt64

  init(seed: UInt64) { state = seed }

  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// Uniform in [-1, 1) from the top 24 bits, so every value is exactly a Float.
  mutating func nextSigned() -> Float {
    Float(Int64(next() >> 40) - (1 << 23)) / Float(1 << 23)
  }

  /// `count` values uniform in [-amplitude, amplitude).
  mutating func floats(_ count: Int, amplitude: Float = 1) -> [Float] {
    (0..<count).map { _ in nextSigned() * amplitude }
  }
}

// MARK: - Tolerances

/// Tolerances for Float32 results against the Double reference, with inputs in [-1, 1) and the
/// default scale 1/√D (so logits are O(1) and |O| ≤ 1).
///
/// Float32 has unit roundoff u = 2⁻²⁴ ≈ 6e-8. The kernel's error sources per row:
/// - scale·log2(e) and Q̂ = Q·scale·log2(e) rounded once each (2u relative on every logit), and
///   the D-term dot product (≈ √D·u typical): at D = 256 ≲ 16u·Σ|q·k|/√D ≈ 1e-6 absolute;
/// - exp2: ≤ 1e-7 relative (ExpTests);
/// - l and acc summed over up to Skv = 1000 keys in Float: ≈ √Skv·u ≈ 2e-6 relative at worst
///   in practice (the bound Skv·u = 6e-5 needs every rounding to go one way); O = acc/l shares
///   much of it;
/// - LSE = (m + log2 l)·ln 2 is itself rounded to Float: at |LSE| ≈ 7 one ulp is 4.8e-7.
/// Measured worst over the whole suite (FMA build): 5.3e-7 on O and 1.3e-6 on LSE.
/// The tolerances leave a ~7× margin and are still far below what a real bug does (a dropped
/// or extra key, a wrong mask boundary or a stale rescale moves O or LSE by ≥ 1e-3 here).
let outputTolerance = 4e-6
let lseTolerance = 1e-5

// MARK: - Problems and buffers

/// A problem plus its random inputs, stored exactly as the problem's layouts say (padding
/// elements included, filled with random values that must never influence the result).
struct AttentionCase {
  var problem: AttentionProblem
  var q: [Float]
  var k: [Float]
  var v: [Float]

  init(_ problem: AttentionProblem, seed: UInt64, amplitude: Float = 1) {
    self.problem = problem
    let counts = try! problem.validate()
    var rng = SplitMix64(seed: seed)
    q = rng.floats(counts.query, amplitude: amplitude)
    k = rng.floats(counts.key, amplitude: amplitude)
    v = rng.floats(counts.value)
  }

  init(_ problem: AttentionProblem, q: [Float], k: [Float], v: [Float]) {
    self.problem = problem
    self.q = q
    self.k = k
    self.v = v
  }

  var counts: AttentionProblem.RequiredCounts { try! problem.validate() }
}

/// O and LSE of the kernel, with O re-gathered into contiguous (b, s, h, dv) order so it can be
/// compared across layouts and against the reference.
struct KernelOutput: Equatable {
  var output: [Float]
  var lse: [Float]
}

/// Bitwise equality of two Float arrays (NaN-safe, distinguishes −0 and +0).
func bitwiseEqual(_ a: [Float], _ b: [Float]) -> Bool {
  a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern }
}

/// Runs the kernel through the buffer-pointer API. The O buffer is pre-filled with a NaN
/// sentinel: every element the layout addresses must be overwritten, and padding (elements
/// the layout skips) must keep the sentinel.
func runKernel(
  _ c: AttentionCase, options: AttentionOptions = AttentionOptions(threads: 2)
) throws -> KernelOutput {
  let p = c.problem
  let counts = c.counts
  let sentinel = Float(bitPattern: 0x7FC0_1234)
  var out = [Float](repeating: sentinel, count: counts.output)
  var lse = [Float](repeating: sentinel, count: counts.lse)
  try c.q.withUnsafeBufferPointer { q in
    try c.k.withUnsafeBufferPointer { k in
      try c.v.withUnsafeBufferPointer { v in
        try out.withUnsafeMutableBufferPointer { o in
          try lse.withUnsafeMutableBufferPointer { l in
            try Attention.forward(p, q: q, k: k, v: v, output: o, lse: l, options: options)
          }
        }
      }
    }
  }
  return KernelOutput(output: gatherOutput(out, problem: p), lse: lse)
}

/// Copies O from the problem's output layout into contiguous (b, s, h, dv) order, and checks
/// that elements the layout does not address were left untouched.
func gatherOutput(_ out: [Float], problem p: AttentionProblem) -> [Float] {
  let s = p.shape
  var addressed = [Bool](repeating: false, count: out.count)
  var dense = [Float]()
  dense.reserveCapacity(s.batch * s.queryLength * s.queryHeads * s.valueDim)
  for b in 0..<s.batch {
    for i in 0..<s.queryLength {
      for h in 0..<s.queryHeads {
        let base = p.output.layout.offset(batch: b, sequence: i, head: h)
        for d in 0..<s.valueDim {
          dense.append(out[base + d])
          addressed[base + d] = true
        }
      }
    }
  }
  let sentinel = UInt32(0x7FC0_1234)
  let clobbered = zip(out, addressed).filter { !$1 && $0.bitPattern != sentinel }.count
  #expect(clobbered == 0, "the kernel wrote \(clobbered) padding elements of O")
  return dense
}

/// Worst errors of a kernel run against the Double reference.
struct Comparison: CustomStringConvertible {
  var outputError = 0.0
  var lseError = 0.0
  /// Rows where exactly one side has LSE = −∞, or where a −∞ row has a nonzero O.
  var maskedRowMismatches = 0
  /// Fully masked rows (LSE = −∞ on both sides).
  var maskedRows = 0
  /// NaN or ±∞ anywhere in O, or NaN / +∞ in LSE.
  var nonFinite = 0

  var description: String {
    "maxErr(O)=\(outputError) maxErr(LSE)=\(lseError) maskedRows=\(maskedRows) "
      + "maskedMismatches=\(maskedRowMismatches) nonFinite=\(nonFinite)"
  }

  func isWithin(output: Double = outputTolerance, lse: Double = lseTolerance) -> Bool {
    outputError <= output && lseError <= lse && maskedRowMismatches == 0 && nonFinite == 0
  }
}

func compare(
  _ kernel: KernelOutput, _ reference: ReferenceAttention.Result, problem p: AttentionProblem
)
  -> Comparison
{
  var c = Comparison()
  precondition(kernel.output.count == reference.output.count)
  precondition(kernel.lse.count == reference.lse.count)
  for (x, y) in zip(kernel.output, reference.output) {
    if !x.isFinite { c.nonFinite += 1; continue }
    c.outputError = max(c.outputError, abs(Double(x) - y))
  }
  let s = p.shape
  for (index, (x, y)) in zip(kernel.lse, reference.lse).enumerated() {
    if x.isNaN || x == .infinity { c.nonFinite += 1; continue }
    if y == -.infinity || x == -.infinity {
      if x != -.infinity || y != -.infinity {
        c.maskedRowMismatches += 1
        continue
      }
      c.maskedRows += 1
      // A fully masked row must give O = 0 exactly (not NaN, not a stale value).
      let i = index % s.queryLength
      let h = (index / s.queryLength) % s.queryHeads
      let b = index / (s.queryLength * s.queryHeads)
      let base = ((b * s.queryLength + i) * s.queryHeads + h) * s.valueDim
      if kernel.output[base..<base + s.valueDim].contains(where: { $0 != 0 }) {
        c.maskedRowMismatches += 1
      }
      continue
    }
    c.lseError = max(c.lseError, abs(Double(x) - y))
  }
  return c
}

func reference(_ c: AttentionCase) throws -> ReferenceAttention.Result {
  try c.q.withUnsafeBufferPointer { q in
    try c.k.withUnsafeBufferPointer { k in
      try c.v.withUnsafeBufferPointer { v in
        try ReferenceAttention.compute(c.problem, q: q, k: k, v: v)
      }
    }
  }
}

/// Runs kernel and reference on `c` and returns the worst errors.
func compareWithReference(
  _ c: AttentionCase, options: AttentionOptions = AttentionOptions(threads: 2)
) throws -> Comparison {
  let kernel = try runKernel(c, options: options)
  return compare(kernel, try reference(c), problem: c.problem)
}

/// A problem whose tensors use explicit layouts (for padded or mixed layouts).
func problem(
  _ shape: AttentionShape, mask: AttentionMask = .none, scale: Float? = nil,
  q: TensorLayout, k: TensorLayout, v: TensorLayout, o: TensorLayout
) -> AttentionProblem {
  var p = AttentionProblem(shape: shape, mask: mask, scale: scale)
  p.query.layout = q
  p.key.layout = k
  p.value.layout = v
  p.output.layout = o
  return p
}

/// Reads element (b, s, h, d) of a tensor stored with `layout`.
func element(
  _ data: [Float], _ layout: TensorLayout, b: Int, s: Int, h: Int, d: Int
) -> Float {
  data[layout.offset(batch: b, sequence: s, head: h) + d]
}
