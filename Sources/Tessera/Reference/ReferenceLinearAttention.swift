/// Naive linear attention in Double: the oracle for `LinearAttention` and
/// `LinearAttentionState`. It never forms S or z: each output is the explicit weighted sum
///
///     o_i = Σ_j w_ij v_j / (Σ_j w_ij + ε),   w_ij = φ(q_i)·φ(k_j),   j ≤ i when causal
///
/// so it checks the chunked prefix sums and the recurrence against their definition.
/// O(Sq·Skv·(D + Dv)) per head. Layouts contiguous BSHD as `LinearAttention`.
public enum ReferenceLinearAttention {
  public static func compute<Phi: LinearFeatureMap>(
    shape s: AttentionShape, causal: Bool, q: [Float], k: [Float], v: [Float],
    featureMap: Phi, epsilon: Double = 1e-6
  ) -> [Double] {
    var out = [Double](repeating: 0, count: s.batch * s.queryLength * s.queryHeads * s.valueDim)
    let phi = { (x: Float) in featureMap.reference(Double(x)) }
    for b in 0..<s.batch {
      for h in 0..<s.queryHeads {
        let g = s.kvHead(forQueryHead: h)
        let phiK = (0..<s.keyLength).map { j in
          (0..<s.headDim).map { phi(k[((b * s.keyLength + j) * s.kvHeads + g) * s.headDim + $0]) }
        }
        for i in 0..<s.queryLength {
          let qBase = ((b * s.queryLength + i) * s.queryHeads + h) * s.headDim
          let phiQ = (0..<s.headDim).map { phi(q[qBase + $0]) }
          let keys = causal ? 0..<min(i + 1, s.keyLength) : 0..<s.keyLength
          var den = 0.0
          var num = [Double](repeating: 0, count: s.valueDim)
          for j in keys {
            var w = 0.0
            for d in 0..<s.headDim { w += phiQ[d] * phiK[j][d] }
            den += w
            let vBase = ((b * s.keyLength + j) * s.kvHeads + g) * s.valueDim
            for e in 0..<s.valueDim { num[e] += w * Double(v[vBase + e]) }
          }
          let oBase = ((b * s.queryLength + i) * s.queryHeads + h) * s.valueDim
          for e in 0..<s.valueDim { out[oBase + e] = num[e] / (den + epsilon) }
        }
      }
    }
    return out
  }
}
