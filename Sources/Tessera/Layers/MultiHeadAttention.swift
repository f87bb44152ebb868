/// Multi-head attention with learned projections (Vaswani et al. 2017, with grouped-query
/// heads): self-attention, cross-attention and incremental decoding against a KV cache the
/// layer owns. Batch 1: inputs are (tokens, features) row-major; run one layer per sequence.
///
/// Buffer layouts (N = heads·D + kvHeads·D + kvHeads·Dv, the fused projection width):
/// - self-attention projects x once through the fused weight [W_q; W_k; W_v] into QKV (S, N);
///   Q, K and V are column ranges of it, i.e. BSHD tensors with sequence stride N, which the
///   attention core reads in place (no split, no transpose).
/// - cross-attention projects x through W_q into Q (S, heads·D) and the memory through
///   [W_k; W_v] into KV (M, kvHeads·(D + Dv)).
/// - the KV cache is rows of [K | V] (kvHeads·(D + Dv) floats per token), appended per step.
/// - O is (S, heads·Dv), contiguous BSHD; y = O·W_oᵀ is (S, embedDim).
///
/// Not thread-safe: a layer holds its cache and last profile; use one per sequence.
public final class MultiHeadAttention {
  public let configuration: MultiHeadAttentionConfiguration
  /// Threads (GEMMs and attention both use `options.threads`), tiles, runtime.
  public var options: AttentionOptions
  /// [W_q; W_k; W_v] rows: W_q is (qWidth, E) at 0, [W_k; W_v] is (kvWidth, Em) after it.
  let qkvWeight: [Float]
  /// [b_q; b_k; b_v] (zeros where a bias is absent), nil when the layer has no biases.
  let qkvBias: [Float]?
  let outputWeight: [Float]
  let outputBias: [Float]?
  /// Rows of [K | V] for the tokens decoded so far.
  var cache: [Float] = []

  /// Seconds spent in the last call's projections (the four GEMMs with biases) and in the
  /// attention core; the CLI reports their shares.
  public struct Profile: Hashable, Sendable {
    public var projections: Double = 0
    public var attention: Double = 0
    public var total: Double { projections + attention }
  }
  public private(set) var lastProfile = Profile()

  public init(
    configuration c: MultiHeadAttentionConfiguration, weights w: MultiHeadAttentionWeights,
    options: AttentionOptions = AttentionOptions()
  ) throws(LayerError) {
    try c.validate()
    try w.validate(c)
    configuration = c
    self.options = options
    qkvWeight = w.query + w.key + w.value
    outputWeight = w.output
    if w.queryBias != nil || w.keyBias != nil || w.valueBias != nil {
      qkvBias =
        (w.queryBias ?? Array(repeating: 0, count: c.qWidth))
        + (w.keyBias ?? Array(repeating: 0, count: c.kWidth))
        + (w.valueBias ?? Array(repeating: 0, count: c.vWidth))
    } else {
      qkvBias = nil
    }
    outputBias = w.outputBias
  }

  /// Tokens in the KV cache.
  public var cachedTokens: Int { cache.count / configuration.kvWidth }

  /// Empties the KV cache (a new sequence).
  public func resetCache() { cache.removeAll(keepingCapacity: true) }

  // MARK: - Calls

  /// Self-attention over x (S, embedDim); `causal` masks future tokens. Returns (S, embedDim).
  public func selfAttention(_ x: [Float], causal: Bool = false) throws(LayerError) -> [Float] {
    let c = configuration
    try requireSelf()
    let s = try rows(x, c.embedDim, "x")
    var profile = Profile()
    var qkv = [Float](repeating: 0, count: s * c.qkvWidth)
    try timed(&profile.projections) { () throws(LayerError) in
      try project(
        x, rows: s, inputDim: c.embedDim, weightOffset: 0, outputs: c.qkvWidth,
        biasOffset: 0, into: &qkv, offset: 0, ldc: c.qkvWidth)
    }
    let o = try attend(
      q: qkv, qOffset: 0, qStride: c.qkvWidth, queries: s, kv: qkv, kvOffset: c.qWidth,
      kvStride: c.qkvWidth, keys: s, mask: causal ? .causal : .none, profile: &profile)
    let y = try outputProjection(o, rows: s, profile: &profile)
    lastProfile = profile
    return y
  }

  /// Cross-attention: queries from x (S, embedDim), keys and values from `memory`
  /// (M, memoryDim). Returns (S, embedDim).
  public func crossAttention(_ x: [Float], memory: [Float]) throws(LayerError) -> [Float] {
    let c = configuration
    let s = try rows(x, c.embedDim, "x")
    let m = try rows(memory, c.memoryDim, "memory")
    var profile = Profile()
    var q = [Float](repeating: 0, count: s * c.qWidth)
    var kv = [Float](repeating: 0, count: m * c.kvWidth)
    try timed(&profile.projections) { () throws(LayerError) in
      try project(
        x, rows: s, inputDim: c.embedDim, weightOffset: 0, outputs: c.qWidth,
        biasOffset: 0, into: &q, offset: 0, ldc: c.qWidth)
      try project(
        memory, rows: m, inputDim: c.memoryDim, weightOffset: c.qWidth * c.embedDim,
        outputs: c.kvWidth, biasOffset: c.qWidth, into: &kv, offset: 0, ldc: c.kvWidth)
    }
    let o = try attend(
      q: q, qOffset: 0, qStride: c.qWidth, queries: s, kv: kv, kvOffset: 0,
      kvStride: c.kvWidth, keys: m, mask: .none, profile: &profile)
    let y = try outputProjection(o, rows: s, profile: &profile)
    lastProfile = profile
    return y
  }

  /// Incremental decoding: appends the K and V of the new tokens x (T, embedDim) to the cache
  /// and attends causally, bottom-right aligned (new token i sees every cached token and the
  /// new tokens up to i). A first call with the whole prompt is a causal prefill; later calls
  /// with T = 1 are decode steps. Equals `selfAttention(all tokens, causal: true)`'s last T
  /// rows.
  public func decode(_ x: [Float]) throws(LayerError) -> [Float] {
    let c = configuration
    try requireSelf()
    let t = try rows(x, c.embedDim, "x")
    var profile = Profile()
    var qkv = [Float](repeating: 0, count: t * c.qkvWidth)
    try timed(&profile.projections) { () throws(LayerError) in
      try project(
        x, rows: t, inputDim: c.embedDim, weightOffset: 0, outputs: c.qkvWidth,
        biasOffset: 0, into: &qkv, offset: 0, ldc: c.qkvWidth)
    }
    // Append [K | V] of each new token: the tail kvWidth floats of its QKV row.
    cache.reserveCapacity(cache.count + t * c.kvWidth)
    for r in 0..<t {
      let start = r * c.qkvWidth + c.qWidth
      cache.append(contentsOf: qkv[start..<(start + c.kvWidth)])
    }
    let o = try attend(
      q: qkv, qOffset: 0, qStride: c.qkvWidth, queries: t, kv: cache, kvOffset: 0,
      kvStride: c.kvWidth, keys: cachedTokens, mask: .causal, profile: &profile)
    let y = try outputProjection(o, rows: t, profile: &profile)
    lastProfile = profile
    return y
  }

  // MARK: - Parts

  private func requireSelf() throws(LayerError) {
    let c = configuration
    if c.memoryDim != c.embedDim {
      throw .invalidConfiguration(
        "self-attention needs memoryDim (\(c.memoryDim)) == embedDim (\(c.embedDim))")
    }
  }

  private func rows(_ x: [Float], _ width: Int, _ name: String) throws(LayerError) -> Int {
    if x.isEmpty || x.count % width != 0 {
      throw .inputSize(name: name, count: x.count, rowLength: width)
    }
    return x.count / width
  }

  private func timed(
    _ seconds: inout Double, _ body: () throws(LayerError) -> Void
  ) throws(LayerError) {
    let clock = ContinuousClock()
    let start = clock.now
    try body()
    let d = start.duration(to: clock.now)
    seconds += Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
  }

  private var gemmOptions: GemmOptions {
    GemmOptions(threads: options.threads, runtime: options.runtime)
  }

  /// out[offset + r·ldc + j] = Σ_k input[r, k]·W[j, k] + bias[j] for `outputs` rows of the
  /// fused weight starting at `weightOffset` (elements).
  private func project(
    _ input: [Float], rows: Int, inputDim: Int, weightOffset: Int, outputs: Int,
    biasOffset: Int, into out: inout [Float], offset: Int, ldc: Int
  ) throws(LayerError) {
    var beta: Float = 0
    if let bias = qkvBias {
      for r in 0..<rows {
        for j in 0..<outputs { out[offset + r * ldc + j] = bias[biasOffset + j] }
      }
      beta = 1
    }
    try gemm(
      input, rows: rows, inputDim: inputDim, weight: qkvWeight, weightOffset: weightOffset,
      outputs: outputs, beta: beta, into: &out, offset: offset, ldc: ldc)
  }

  private func gemm(
    _ input: [Float], rows: Int, inputDim: Int, weight: [Float], weightOffset: Int,
    outputs: Int, beta: Float, into out: inout [Float], offset: Int, ldc: Int
  ) throws(LayerError) {
    let options = gemmOptions
    do throws(GemmError) {
      try input.withUnsafeBufferPointer { a throws(GemmError) in
        try weight.withUnsafeBufferPointer { w throws(GemmError) in
          try out.withUnsafeMutableBufferPointer { o throws(GemmError) in
            try Gemm.sgemm(
              m: rows, n: outputs, k: inputDim, a: a, lda: inputDim,
              b: UnsafeBufferPointer(rebasing: w[weightOffset...]), ldb: inputDim,
              transposeB: true, beta: beta,
              c: UnsafeMutableBufferPointer(rebasing: o[offset...]), ldc: ldc, options: options)
          }
        }
      }
    } catch {
      throw .gemm(error)
    }
  }

  /// O = Attention(Q, K, V) with Q at `q[qOffset...]` (row stride qStride) and [K | V] at
  /// `kv[kvOffset...]` (row stride kvStride, K first).
  private func attend(
    q: [Float], qOffset: Int, qStride: Int, queries: Int, kv: [Float], kvOffset: Int,
    kvStride: Int, keys: Int, mask: AttentionMask, profile: inout Profile
  ) throws(LayerError) -> [Float] {
    let c = configuration
    let shape = AttentionShape(
      queryHeads: c.heads, kvHeads: c.kvHeads, queryLength: queries, keyLength: keys,
      headDim: c.headDim, valueDim: c.valueDim)
    var problem = AttentionProblem(shape: shape, mask: mask)
    problem.query.layout = TensorLayout(
      batchStride: queries * qStride, sequenceStride: qStride, headStride: c.headDim)
    problem.key.layout = TensorLayout(
      batchStride: keys * kvStride, sequenceStride: kvStride, headStride: c.headDim)
    problem.value.layout = TensorLayout(
      batchStride: keys * kvStride, sequenceStride: kvStride, headStride: c.valueDim)
    var o = [Float](repeating: 0, count: queries * c.outputInput)
    let options = self.options
    let vOffset = kvOffset + c.kWidth
    try timed(&profile.attention) { () throws(LayerError) in
      do throws(AttentionError) {
        try q.withUnsafeBufferPointer { (q) throws(AttentionError) in
          try kv.withUnsafeBufferPointer { (kv) throws(AttentionError) in
            try o.withUnsafeMutableBufferPointer { (out) throws(AttentionError) in
              try Attention.forward(
                problem, q: UnsafeBufferPointer(rebasing: q[qOffset...]),
                k: UnsafeBufferPointer(rebasing: kv[kvOffset...]),
                v: UnsafeBufferPointer(rebasing: kv[vOffset...]), output: out,
                options: options)
            }
          }
        }
      } catch {
        throw .attention(error)
      }
    }
    return o
  }

  /// y = O·W_oᵀ + b_o.
  private func outputProjection(
    _ o: [Float], rows: Int, profile: inout Profile
  ) throws(LayerError) -> [Float] {
    let c = configuration
    var y = [Float](repeating: 0, count: rows * c.embedDim)
    try timed(&profile.projections) { () throws(LayerError) in
      var beta: Float = 0
      if let bias = outputBias {
        for r in 0..<rows {
          for j in 0..<c.embedDim { y[r * c.embedDim + j] = bias[j] }
        }
        beta = 1
      }
      try gemm(
        o, rows: rows, inputDim: c.outputInput, weight: outputWeight, weightOffset: 0,
        outputs: c.embedDim, beta: beta, into: &y, offset: 0, ldc: c.embedDim)
    }
    return y
  }
}
