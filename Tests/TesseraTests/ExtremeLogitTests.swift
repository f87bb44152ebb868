import Foundation
import Tessera
import Testing

/// Logits far outside exp's Float range (|logit| up to ~1e4; Float exp overflows above 88.7
/// and underflows below −103): a naive softmax gives ∞/∞ or 0/0, the online softmax must stay
/// finite and exact up to Float32 rounding.
@Suite struct ExtremeLogitTests {
  /// Random Q, K of amplitude `a`: with D = 64 and scale 1/8, logits are ≈ N(0, a⁴·64/9/64) and
  /// reach ~1e4 in magnitude at a = 110.
  ///
  /// Tolerance: a Float32 logit of magnitude L carries an absolute error of a few u·L
  /// (u = 2⁻²⁴): the rounding of scale·log2(e) and of Q̂ (1 u each) and the dot product
  /// (≈ √D·u of Σ|q·k|·scale). That error moves each probability relative to the row max by
  /// the same amount, so |ΔO| ≲ c·u·L·max|V| and |ΔLSE| ≲ c·u·L. Measured at L = 1.7e4
  /// (u·L = 1e-3): LSE 5.4e-3 (c ≈ 5), O 9e-7 (the rows are nearly one-hot). Asserted c = 32,
  /// ≈ 3e-2: finiteness and agreement to the precision Float32 logits allow; a wrong max
  /// subtraction or rescale would be off by O(1) or overflow.
  @Test(arguments: [AttentionMask.none, .causal])
  func randomHugeLogits(mask: AttentionMask) throws {
    let shape = AttentionShape(
      queryHeads: 2, kvHeads: 1, queryLength: 100, keyLength: 150, headDim: 64)
    let c = AttentionCase(AttentionProblem(shape: shape, mask: mask), seed: 90, amplitude: 110)
    let ref = try reference(c)
    let largest = ref.lse.map { abs($0) }.max() ?? 0
    #expect(largest > 3e3, "the inputs must actually produce huge logits (max |LSE| \(largest))")
    let kernel = try runKernel(c)
    #expect(kernel.output.allSatisfy { $0.isFinite })
    #expect(kernel.lse.allSatisfy { $0.isFinite })
    let u = 0x1p-24
    let r = compare(kernel, ref, problem: c.problem)
    #expect(r.isWithin(output: 32 * u * largest, lse: 32 * u * largest), "\(r)")
  }

  /// Every logit ≈ +1e4 (exp overflows) or ≈ −1e4 (exp underflows to 0, naive 0/0), with
  /// moderate spread between keys so the result is not trivially a mean.
  @Test(arguments: [Float(1e4), -1e4])
  func uniformlyHugeLogits(offset: Float) throws {
    // q = (1, small noise…), k = (offset·√D, small noise…): logit = offset + noise·noise/√D.
    let (sq, skv, d) = (30, 50, 16)
    var rng = SplitMix64(seed: 91)
    var q = [Float](), k = [Float]()
    for _ in 0..<sq { q += [1] + rng.floats(d - 1, amplitude: 4) }
    for _ in 0..<skv { k += [offset * 4] + rng.floats(d - 1, amplitude: 4) }
    let v = rng.floats(skv * d)
    let shape = AttentionShape(queryHeads: 1, queryLength: sq, keyLength: skv, headDim: d)
    let c = AttentionCase(AttentionProblem(shape: shape), q: q, k: k, v: v)
    let kernel = try runKernel(c)
    #expect(kernel.output.allSatisfy { $0.isFinite })
    let r = compare(kernel, try reference(c), problem: c.problem)
    // Logits are ±1e4 + O(10); Float spacing at 1e4 is 1e-3 (u·L = 6e-4), so logit differences
    // carry ~1e-3 absolute error. Measured: O 6.3e-4, LSE 1.9e-3; asserted 1e-2 (16·u·L).
    #expect(r.isWithin(output: 1e-2, lse: 1e-2), "\(r)")
    // LSE ≈ offset + O(log Skv + spread).
    #expect(kernel.lse.allSatisfy { abs($0 - offset) < 200 })
  }

  /// A constant-score row: every key gets the same logit, so O is the mean of V and
  /// LSE = logit + log Skv — exactly, whatever the logit's size (the scores are identical
  /// Floats, so P = 1 for every key).
  @Test(arguments: [Float(0), 1, 1e4, -1e4])
  func constantScoreRow(logit: Float) throws {
    let (skv, d, dv) = (300, 8, 5)
    // Q = (logit·√D, 0…), every key = (1, 0…): logit exactly, identical for all keys.
    let q = [logit * Float(d).squareRoot()] + [Float](repeating: 0, count: d - 1)
    var k = [Float]()
    for _ in 0..<skv { k += [1] + [Float](repeating: 0, count: d - 1) }
    var rng = SplitMix64(seed: 92)
    let v = rng.floats(skv * dv)
    let shape = AttentionShape(
      queryHeads: 1, queryLength: 1, keyLength: skv, headDim: d, valueDim: dv)
    let c = AttentionCase(AttentionProblem(shape: shape), q: q, k: k, v: v)
    let out = try runKernel(
      c, options: AttentionOptions(threads: 1, tileConfig: TileConfig(keyTile: 20)))
    for e in 0..<dv {
      let mean = (0..<skv).reduce(0.0) { $0 + Double(v[$1 * dv + e]) } / Double(skv)
      #expect(abs(Double(out.output[e]) - mean) <= 1e-6, "dim \(e)")
    }
    let expectedLSE = Double(logit) + Foundation.log(Double(skv))
    // LSE is rounded to Float: relative 2 u of its magnitude, and at least 1e-6.
    #expect(abs(Double(out.lse[0]) - expectedLSE) <= max(1e-6, 2 * 0x1p-24 * abs(expectedLSE)))
  }

  /// One key dominates by > 1e3 (every other probability is below e⁻¹⁰⁰⁰ = 0 in Float): O is
  /// that key's value row, wherever the key sits relative to tile boundaries and however
  /// large the logits are.
  @Test(arguments: [0, 63, 64, 130, 199])
  func dominantKey(position: Int) throws {
    let (skv, d) = (200, 8)
    var rng = SplitMix64(seed: UInt64(93 + position))
    let q = [Float(1e4)] + [Float](repeating: 0, count: d - 1)
    var k = [Float]()
    for j in 0..<skv {
      // Scaled logit = 1e4·k₀/√8; the dominant key's k₀ is 1.5, the others ≤ 1.
      k += [j == position ? 1.5 : rng.nextSigned()] + rng.floats(d - 1)
    }
    let v = rng.floats(skv * d)
    let shape = AttentionShape(queryHeads: 1, queryLength: 1, keyLength: skv, headDim: d)
    let c = AttentionCase(AttentionProblem(shape: shape), q: q, k: k, v: v)
    let out = try runKernel(c, options: AttentionOptions(threads: 1))
    #expect(Array(out.output) == Array(v[position * d..<(position + 1) * d]))
    let logit = 1e4 * 1.5 / Double(d).squareRoot()
    #expect(abs(Double(out.lse[0]) - logit) <= 2e-3)  // Float spacing at 5.3e3 is 4.9e-4
  }
}
