import Tessera
import Testing

/// Linear attention (chunked and recurrent) against the Double reference, which sums
/// w_ij·v_j explicitly and never forms the state.
///
/// Tolerance: O is a weighted average of V ∈ [-1, 1) with positive weights, so |O| < 1. The
/// Float path sums ≤ 100 terms into S, z, the intra-chunk products and the normalizer: each
/// relative error ≲ √n·u ≈ 6e-7 typically (n·u = 6e-6 rigorous), and O = num/den shares
/// much of it. Measured worst: 1.8e-7 (chunked and recurrent alike). 2e-6 leaves ~10×; a
/// wrong mask or a dropped chunk moves O by ≥ 1e-3.
@Suite struct LinearAttentionTests {
  static let tolerance = 2e-6

  static func run(
    _ shape: AttentionShape, causal: Bool, chunk: Int, threads: Int = 2, seed: UInt64 = 1,
    relu: Bool = false
  ) throws -> (kernel: [Float], reference: [Double], inputs: ([Float], [Float], [Float])) {
    var rng = SplitMix64(seed: seed)
    let q = rng.floats(shape.batch * shape.queryLength * shape.queryHeads * shape.headDim)
    let k = rng.floats(shape.batch * shape.keyLength * shape.kvHeads * shape.headDim)
    let v = rng.floats(shape.batch * shape.keyLength * shape.kvHeads * shape.valueDim)
    let options = LinearAttentionOptions(threads: threads, chunk: chunk)
    if relu {
      let o = try LinearAttention.forward(
        shape: shape, causal: causal, q: q, k: k, v: v, featureMap: ReLUFeatureMap(),
        options: options)
      let r = ReferenceLinearAttention.compute(
        shape: shape, causal: causal, q: q, k: k, v: v, featureMap: ReLUFeatureMap())
      return (o, r, (q, k, v))
    }
    let o = try LinearAttention.forward(
      shape: shape, causal: causal, q: q, k: k, v: v, options: options)
    let r = ReferenceLinearAttention.compute(
      shape: shape, causal: causal, q: q, k: k, v: v, featureMap: EluPlusOne())
    return (o, r, (q, k, v))
  }

  static func maxError(_ a: [Float], _ b: [Double]) -> Double {
    zip(a, b).map { abs(Double($0) - $1) }.max() ?? .infinity
  }

  /// Odd head dims (padding lanes), lengths that are not chunk multiples, GQA, batch 2.
  @Test(arguments: [
    AttentionShape(queryHeads: 2, queryLength: 37, headDim: 5, valueDim: 12),
    AttentionShape(batch: 2, queryHeads: 4, kvHeads: 2, queryLength: 64, headDim: 16),
    AttentionShape(queryHeads: 3, kvHeads: 1, queryLength: 100, headDim: 24, valueDim: 8),
    AttentionShape(queryHeads: 1, queryLength: 1, headDim: 9),
  ])
  func againstReference(shape: AttentionShape) throws {
    for causal in [false, true] {
      for chunk in [1, 8, 13, 64] {
        let r = try Self.run(shape, causal: causal, chunk: chunk)
        let e = Self.maxError(r.kernel, r.reference)
        #expect(e <= Self.tolerance, "\(shape) causal=\(causal) chunk=\(chunk): \(e)")
      }
    }
  }

  @Test func crossLengthsNonCausal() throws {
    let shape = AttentionShape(
      queryHeads: 2, queryLength: 19, keyLength: 70, headDim: 8, valueDim: 20)
    let r = try Self.run(shape, causal: false, chunk: 16)
    #expect(Self.maxError(r.kernel, r.reference) <= Self.tolerance)
    #expect(throws: AttentionError.self) {
      _ = try LinearAttention.forward(
        shape: shape, causal: true, q: r.inputs.0, k: r.inputs.1, v: r.inputs.2)
    }
  }

  @Test func reluFeatureMap() throws {
    let shape = AttentionShape(queryHeads: 2, queryLength: 45, headDim: 12)
    for causal in [false, true] {
      let r = try Self.run(shape, causal: causal, chunk: 16, relu: true)
      // ReLU can leave a small normalizer (few positive features), which amplifies rounding.
      let e = Self.maxError(r.kernel, r.reference)
      #expect(e <= 1e-5, "causal=\(causal): \(e)")
    }
  }

  /// Bitwise identical on any thread count (items are whole heads).
  @Test func deterministicAcrossThreads() throws {
    let shape = AttentionShape(batch: 2, queryHeads: 3, queryLength: 50, headDim: 16)
    let a = try Self.run(shape, causal: true, chunk: 16, threads: 1).kernel
    let b = try Self.run(shape, causal: true, chunk: 16, threads: 3).kernel
    #expect(bitwiseEqual(a, b))
  }

  /// The recurrent decode step over tokens 0…t equals row t of causal attention.
  @Test(arguments: [(4, 4), (4, 2), (3, 1)])
  func decodeStepEqualsCausalPrefix(heads: (Int, Int)) throws {
    let shape = AttentionShape(
      queryHeads: heads.0, kvHeads: heads.1, queryLength: 41, headDim: 10, valueDim: 6)
    let r = try Self.run(shape, causal: true, chunk: 16)
    let (q, k, v) = r.inputs
    var state = try LinearAttentionState(
      queryHeads: heads.0, kvHeads: heads.1, headDim: 10, valueDim: 6, featureMap: EluPlusOne())
    let (qw, kw, vw, ow) = (heads.0 * 10, heads.1 * 10, heads.1 * 6, heads.0 * 6)
    var worst = 0.0
    var worstVsKernel = 0.0
    for t in 0..<41 {
      let o = try state.step(
        q: Array(q[(t * qw)..<((t + 1) * qw)]), k: Array(k[(t * kw)..<((t + 1) * kw)]),
        v: Array(v[(t * vw)..<((t + 1) * vw)]))
      worst = max(worst, Self.maxError(o, Array(r.reference[(t * ow)..<((t + 1) * ow)])))
      worstVsKernel = max(
        worstVsKernel,
        Self.maxError(o, r.kernel[(t * ow)..<((t + 1) * ow)].map(Double.init)))
    }
    #expect(state.length == 41)
    #expect(worst <= Self.tolerance && worstVsKernel <= Self.tolerance, "\(worst) \(worstVsKernel)")
    state.reset()
    #expect(state.length == 0 && state.z.allSatisfy { $0 == 0 })
  }
}
