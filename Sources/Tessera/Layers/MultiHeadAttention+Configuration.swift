/// Sizes of a multi-head attention layer (batch 1: rows are tokens).
///
///     Q = x·W_qᵀ + b_q          (S, heads·headDim)
///     K = m·W_kᵀ + b_k          (M, kvHeads·headDim)     m = x for self-attention
///     V = m·W_vᵀ + b_v          (M, kvHeads·valueDim)
///     O = Attention(Q, K, V)    (S, heads·valueDim)      BSHD with batch 1, no copies
///     y = O·W_oᵀ + b_o          (S, embedDim)
///
/// Weights are stored as PyTorch's `nn.Linear` (out, in), so each projection is a GEMM with
/// B transposed.
public struct MultiHeadAttentionConfiguration: Hashable, Sendable, CustomStringConvertible {
  public var embedDim: Int
  public var heads: Int
  /// Grouped-query attention: heads / kvHeads query heads share one K/V head.
  public var kvHeads: Int
  public var headDim: Int
  public var valueDim: Int
  /// Feature size of the memory that K and V are projected from (`kdim`/`vdim` in PyTorch);
  /// self-attention needs it to equal `embedDim`.
  public var memoryDim: Int
  public var bias: Bool

  public init(
    embedDim: Int, heads: Int, kvHeads: Int? = nil, headDim: Int? = nil, valueDim: Int? = nil,
    memoryDim: Int? = nil, bias: Bool = true
  ) {
    self.embedDim = embedDim
    self.heads = heads
    self.kvHeads = kvHeads ?? heads
    let d = headDim ?? (heads > 0 ? embedDim / heads : 0)
    self.headDim = d
    self.valueDim = valueDim ?? d
    self.memoryDim = memoryDim ?? embedDim
    self.bias = bias
  }

  /// Columns of the fused projection [Q | K | V].
  var qWidth: Int { heads * headDim }
  var kWidth: Int { kvHeads * headDim }
  var vWidth: Int { kvHeads * valueDim }
  var kvWidth: Int { kWidth + vWidth }
  var qkvWidth: Int { qWidth + kvWidth }
  var outputInput: Int { heads * valueDim }

  public var description: String {
    var s = "E=\(embedDim) H=\(heads)"
    if kvHeads != heads { s += " Hkv=\(kvHeads)" }
    s += " D=\(headDim)"
    if valueDim != headDim { s += " Dv=\(valueDim)" }
    if memoryDim != embedDim { s += " Em=\(memoryDim)" }
    return s + (bias ? " bias" : "")
  }

  public func validate() throws(LayerError) {
    let fields = [
      ("embedDim", embedDim), ("heads", heads), ("kvHeads", kvHeads), ("headDim", headDim),
      ("valueDim", valueDim), ("memoryDim", memoryDim),
    ]
    for (name, value) in fields where value <= 0 {
      throw .invalidConfiguration("\(name) must be positive, got \(value)")
    }
    if heads % kvHeads != 0 {
      throw .invalidConfiguration("heads (\(heads)) must be a multiple of kvHeads (\(kvHeads))")
    }
  }

  /// (out, in) shapes of the four weights, in the order q, k, v, o.
  var weightShapes: [[Int]] {
    [[qWidth, embedDim], [kWidth, memoryDim], [vWidth, memoryDim], [embedDim, outputInput]]
  }
}

/// The learned parameters of a `MultiHeadAttention` layer, `nn.Linear` layout (out, in).
public struct MultiHeadAttentionWeights: Sendable {
  /// (heads·headDim, embedDim)
  public var query: [Float]
  /// (kvHeads·headDim, memoryDim)
  public var key: [Float]
  /// (kvHeads·valueDim, memoryDim)
  public var value: [Float]
  /// (embedDim, heads·valueDim)
  public var output: [Float]
  public var queryBias: [Float]?
  public var keyBias: [Float]?
  public var valueBias: [Float]?
  public var outputBias: [Float]?

  public init(
    query: [Float], key: [Float], value: [Float], output: [Float], queryBias: [Float]? = nil,
    keyBias: [Float]? = nil, valueBias: [Float]? = nil, outputBias: [Float]? = nil
  ) {
    self.query = query
    self.key = key
    self.value = value
    self.output = output
    self.queryBias = queryBias
    self.keyBias = keyBias
    self.valueBias = valueBias
    self.outputBias = outputBias
  }

  /// Uniform in ±1/√in (PyTorch's `nn.Linear` default range), biases in the same range when
  /// the configuration has them; deterministic in `seed`.
  public static func random(_ c: MultiHeadAttentionConfiguration, seed: UInt64) -> Self {
    var state = seed
    func floats(_ count: Int, fanIn: Int) -> [Float] {
      let bound = 1 / Float(fanIn).squareRoot()
      return (0..<count).map { _ in
        // SplitMix64, top 24 bits → [-1, 1).
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return (Float(z >> 40) * 0x1p-23 - 1) * bound
      }
    }
    let s = c.weightShapes
    let q = floats(s[0][0] * s[0][1], fanIn: s[0][1])
    let k = floats(s[1][0] * s[1][1], fanIn: s[1][1])
    let v = floats(s[2][0] * s[2][1], fanIn: s[2][1])
    let o = floats(s[3][0] * s[3][1], fanIn: s[3][1])
    var w = Self(query: q, key: k, value: v, output: o)
    if c.bias {
      w.queryBias = floats(s[0][0], fanIn: s[0][1])
      w.keyBias = floats(s[1][0], fanIn: s[1][1])
      w.valueBias = floats(s[2][0], fanIn: s[2][1])
      w.outputBias = floats(s[3][0], fanIn: s[3][1])
    }
    return w
  }

  /// Checks every weight's element count against the configuration.
  func validate(_ c: MultiHeadAttentionConfiguration) throws(LayerError) {
    let s = c.weightShapes
    let named: [(String, [Float], [Int])] = [
      ("query", query, s[0]), ("key", key, s[1]), ("value", value, s[2]),
      ("output", output, s[3]),
    ]
    for (name, w, shape) in named where w.count != shape[0] * shape[1] {
      throw .weightShape(name: name, expected: shape, actual: [w.count])
    }
    let biases: [(String, [Float]?, Int)] = [
      ("queryBias", queryBias, s[0][0]), ("keyBias", keyBias, s[1][0]),
      ("valueBias", valueBias, s[2][0]), ("outputBias", outputBias, s[3][0]),
    ]
    for (name, b, n) in biases {
      if let b, b.count != n { throw .weightShape(name: name, expected: [n], actual: [b.count]) }
    }
  }
}
