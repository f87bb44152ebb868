/// The recurrent form of causal linear attention, for decoding one token at a time:
///
///     S ← S + φ(k_t) v_tᵀ,   z ← z + φ(k_t),   o_t = φ(q_t)ᵀ S / (φ(q_t)·z + ε)
///
/// O(D·Dv) state and work per kv head and token, independent of the sequence length. The
/// state is per kv head (the query heads of a GQA group read the same S and z). After steps
/// over tokens 0…t, `o_t` equals row t of causal `LinearAttention.forward` (up to Float
/// rounding: the chunked form sums in a different order).
public struct LinearAttentionState<Phi: LinearFeatureMap>: Sendable {
  public let queryHeads: Int
  public let kvHeads: Int
  public let headDim: Int
  public let valueDim: Int
  public let featureMap: Phi
  public let epsilon: Float
  /// S per kv head: (kvHeads, headDim, valueDim).
  public private(set) var s: [Float]
  /// z per kv head: (kvHeads, headDim).
  public private(set) var z: [Float]
  /// Tokens absorbed so far.
  public private(set) var length = 0

  public init(
    queryHeads: Int, kvHeads: Int? = nil, headDim: Int, valueDim: Int? = nil,
    featureMap: Phi, epsilon: Float = 1e-6
  ) throws(AttentionError) {
    let shape = AttentionShape(
      queryHeads: queryHeads, kvHeads: kvHeads, queryLength: 1, headDim: headDim,
      valueDim: valueDim)
    try shape.validate()
    self.queryHeads = shape.queryHeads
    self.kvHeads = shape.kvHeads
    self.headDim = shape.headDim
    self.valueDim = shape.valueDim
    self.featureMap = featureMap
    self.epsilon = epsilon
    s = Array(repeating: 0, count: shape.kvHeads * shape.headDim * shape.valueDim)
    z = Array(repeating: 0, count: shape.kvHeads * shape.headDim)
  }

  /// Absorbs one token's k (kvHeads·headDim) and v (kvHeads·valueDim) and returns o
  /// (queryHeads·valueDim) for its q (queryHeads·headDim).
  public mutating func step(q: [Float], k: [Float], v: [Float]) throws(AttentionError) -> [Float] {
    try Attention.check(buffer: q.count, required: queryHeads * headDim, tensor: "q")
    try Attention.check(buffer: k.count, required: kvHeads * headDim, tensor: "k")
    try Attention.check(buffer: v.count, required: kvHeads * valueDim, tensor: "v")
    let d = headDim
    let dv = valueDim
    for g in 0..<kvHeads {
      let phiK = features(k, offset: g * d)
      for i in 0..<d where phiK[i] != 0 {
        let row = (g * d + i) * dv
        let scale = phiK[i]
        for e in 0..<dv { s[row + e] += scale * v[g * dv + e] }
        z[g * d + i] += scale
      }
    }
    length += 1
    var o = [Float](repeating: 0, count: queryHeads * dv)
    let group = queryHeads / kvHeads
    for h in 0..<queryHeads {
      let g = h / group
      let phiQ = features(q, offset: h * d)
      var den: Float = 0
      for i in 0..<d {
        den += phiQ[i] * z[g * d + i]
        let row = (g * d + i) * dv
        for e in 0..<dv { o[h * dv + e] += phiQ[i] * s[row + e] }
      }
      let inv = 1 / (den + epsilon)
      for e in 0..<dv { o[h * dv + e] *= inv }
    }
    return o
  }

  /// Clears the state (a new sequence).
  public mutating func reset() {
    for i in s.indices { s[i] = 0 }
    for i in z.indices { z[i] = 0 }
    length = 0
  }

  /// φ of `headDim` values at `offset`, through the vector form (the same φ the chunked
  /// kernel applies).
  private func features(_ x: [Float], offset: Int) -> [Float] {
    var out = [Float](repeating: 0, count: headDim)
    var c = 0
    while c < headDim {
      var lanes = Vec()
      let n = min(8, headDim - c)
      for l in 0..<n { lanes[l] = x[offset + c + l] }
      let y = featureMap(lanes)
      for l in 0..<n { out[c + l] = y[l] }
      c += 8
    }
    return out
  }
}
