import Foundation

/// Softmax-free linear attention (Katharopoulos et al. 2020, "Transformers are RNNs"):
///
///     O_i = φ(q_i)ᵀ (Σ_j φ(k_j) v_jᵀ) / (φ(q_i) · Σ_j φ(k_j) + ε)
///
/// over all keys j (non-causal) or j ≤ i (causal). With S = Σ φ(k_j) v_jᵀ (D×Dv) and
/// z = Σ φ(k_j) (D), the cost is O(n·D·Dv) time and O(D·Dv) state per head instead of
/// softmax attention's O(n²·D).
///
/// Causal attention runs in chunks of C rows (chunked prefix sums): for chunk c with state
/// (S, z) over all earlier chunks,
///
///     A   = φ(Q_c) φ(K_c)ᵀ masked to j ≤ i            (C×C, intra-chunk, quadratic in C only)
///     num = φ(Q_c) S + A V_c,   den = φ(Q_c) z + rowsum A
///     O_c = num / (den + ε),    S += φ(K_c)ᵀ V_c,   z += colsum φ(K_c)
///
/// so the work is O(n·(C·D + D·Dv)): linear in n, and every step is a small matrix product
/// the register-blocked kernel runs at FMA speed (a per-token recurrence would be rank-1
/// updates, bound by loads and stores of S).
///
/// Layouts: Q (batch, Sq, heads, D), K (batch, Skv, kvHeads, D), V (batch, Skv, kvHeads, Dv),
/// O (batch, Sq, heads, Dv), all contiguous BSHD; GQA as in `AttentionShape`. Causal needs
/// Sq = Skv (for decode, use `LinearAttentionState`).
public enum LinearAttention {
  /// Computes linear attention into a caller-owned O buffer. Specialized for the built-in
  /// feature maps (so φ inlines into the chunk loop when called from another module);
  /// other maps run the generic path, one witness call per 8 elements of Q and K.
  @_specialize(where Phi == EluPlusOne)
  @_specialize(where Phi == ReLUFeatureMap)
  public static func forward<Phi: LinearFeatureMap>(
    shape: AttentionShape, causal: Bool,
    q: UnsafeBufferPointer<Float>, k: UnsafeBufferPointer<Float>, v: UnsafeBufferPointer<Float>,
    output: UnsafeMutableBufferPointer<Float>, featureMap: Phi = EluPlusOne(),
    options: LinearAttentionOptions = LinearAttentionOptions()
  ) throws(AttentionError) {
    try validate(
      shape: shape, causal: causal, q: q.count, k: k.count, v: v.count,
      output: output.count, options: options)
    guard let qp = q.baseAddress, let kp = k.baseAddress, let vp = v.baseAddress,
      let op = output.baseAddress
    else { return }
    let ops = LinearOperands(shape: shape, causal: causal, q: qp, k: kp, v: vp, o: op)
    let chunk = options.chunk
    let epsilon = options.epsilon
    let dp = (shape.headDim + 7) / 8 * 8
    let dvp = (shape.valueDim + 7) / 8 * 8
    let key = LinearScratchKey(chunk: chunk, dp: dp, dvp: dvp)
    let items = shape.batch * shape.queryHeads
    let cost =
      Double(shape.batch * shape.queryHeads) * Double(shape.queryLength + shape.keyLength)
      * Double(2 * dp * dvp + (causal ? 2 * chunk * (dp + dvp) : 0))
    LayerParallel.run(items: items, threads: options.threads, cost: cost, runtime: options.runtime)
    { item, worker in
      let scratch = worker.scratch(key) { LinearScratch(chunk: chunk, dp: dp, dvp: dvp) }
      let b = item / shape.queryHeads
      let h = item % shape.queryHeads
      LinearAttention.runHead(
        ops, batch: b, head: h, scratch: scratch, featureMap: featureMap, epsilon: epsilon)
    }
  }

  /// Linear attention on arrays; returns O (batch, Sq, heads, Dv).
  public static func forward<Phi: LinearFeatureMap>(
    shape: AttentionShape, causal: Bool, q: [Float], k: [Float], v: [Float],
    featureMap: Phi = EluPlusOne(), options: LinearAttentionOptions = LinearAttentionOptions()
  ) throws(AttentionError) -> [Float] {
    try shape.validate()
    var o = [Float](
      repeating: 0, count: shape.batch * shape.queryLength * shape.queryHeads * shape.valueDim)
    try q.withUnsafeBufferPointer { (q) throws(AttentionError) in
      try k.withUnsafeBufferPointer { (k) throws(AttentionError) in
        try v.withUnsafeBufferPointer { (v) throws(AttentionError) in
          try o.withUnsafeMutableBufferPointer { (out) throws(AttentionError) in
            try forward(
              shape: shape, causal: causal, q: q, k: k, v: v, output: out,
              featureMap: featureMap, options: options)
          }
        }
      }
    }
    return o
  }

  /// Checks sizes, buffers and options.
  public static func validate(
    shape: AttentionShape, causal: Bool, q: Int, k: Int, v: Int, output: Int,
    options: LinearAttentionOptions
  ) throws(AttentionError) {
    try shape.validate()
    if causal && shape.queryLength != shape.keyLength {
      throw .shapeMismatch(
        tensor: "K", axis: "sequence (causal linear attention)", expected: shape.queryLength,
        actual: shape.keyLength)
    }
    if options.threads <= 0 { throw .invalidThreadCount(options.threads) }
    if options.chunk <= 0 { throw .nonPositiveSize(field: "chunk", value: options.chunk) }
    if !(options.epsilon >= 0) || !options.epsilon.isFinite {
      throw .invalidModifier(name: "epsilon", detail: "must be finite and ≥ 0")
    }
    let s = shape
    func count(_ seq: Int, _ heads: Int, _ dim: Int, _ name: String) throws(AttentionError) -> Int {
      let (a, o1) = s.batch.multipliedReportingOverflow(by: seq)
      let (b, o2) = a.multipliedReportingOverflow(by: heads)
      let (c, o3) = b.multipliedReportingOverflow(by: dim)
      if o1 || o2 || o3 { throw .sizeOverflow(tensor: name) }
      return c
    }
    try Attention.check(
      buffer: q, required: count(s.queryLength, s.queryHeads, s.headDim, "Q"), tensor: "Q")
    try Attention.check(
      buffer: k, required: count(s.keyLength, s.kvHeads, s.headDim, "K"), tensor: "K")
    try Attention.check(
      buffer: v, required: count(s.keyLength, s.kvHeads, s.valueDim, "V"), tensor: "V")
    try Attention.check(
      buffer: output, required: count(s.queryLength, s.queryHeads, s.valueDim, "O"),
      tensor: "O")
  }

  /// FLOPs of one call as the chunked algorithm does them (multiply-adds × 2): the state
  /// products 2·D·Dv per key and per query, plus for causal the intra-chunk products
  /// ≈ C·(D + Dv) per query (half of the C×C block, two products).
  public static func flops(shape s: AttentionShape, causal: Bool, chunk: Int = 64) -> Double {
    let perHead =
      Double(s.queryLength + s.keyLength) * Double(2 * s.headDim * s.valueDim)
      + (causal
        ? Double(s.queryLength) * Double(min(chunk, s.queryLength))
          * Double(s.headDim + s.valueDim) : 0)
    return perHead * Double(s.batch * s.queryHeads)
  }
}

/// How a linear attention call runs.
public struct LinearAttentionOptions: Hashable, Sendable {
  public var threads: Int
  /// Rows per chunk of the causal prefix sums (and of the non-causal passes). 64: the C×C
  /// block (16 KiB) and the D×Dv state (16 KiB at D = Dv = 64) share L1/L2 with the chunk's
  /// φ(Q), φ(K), V (16 KiB each); the intra-chunk work C·(D + Dv) per row stays at about the
  /// state work 2·D·Dv at D = 64.
  public var chunk: Int
  /// Added to the normalizer φ(q)·z (Katharopoulos et al. use 1e-6).
  public var epsilon: Float
  public var runtime: Runtime?

  public init(threads: Int = 1, chunk: Int = 64, epsilon: Float = 1e-6, runtime: Runtime? = nil) {
    self.threads = threads
    self.chunk = chunk
    self.epsilon = epsilon
    self.runtime = runtime
  }
}

/// The feature map φ of linear attention, applied elementwise to queries and keys. It must be
/// non-negative (so the normalizer is positive) and map 0 to anything: padding lanes are
/// zeroed after φ.
public protocol LinearFeatureMap: Sendable {
  /// φ on one vector of the kernels (8 lanes).
  func callAsFunction(_ x: SIMD8<Float>) -> SIMD8<Float>
  /// φ in Double, for the reference.
  func reference(_ x: Double) -> Double
}

/// φ(x) = elu(x) + 1 = x + 1 for x > 0, eˣ otherwise (the default of Katharopoulos et al.).
public struct EluPlusOne: LinearFeatureMap {
  public init() {}

  @inline(__always)
  public func callAsFunction(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let negative = x.replacing(with: 0, where: x .> 0)
    let e = exp2(negative * Vec(repeating: log2e))
    return e.replacing(with: x + 1, where: x .> 0)
  }

  public func reference(_ x: Double) -> Double { x > 0 ? x + 1 : Foundation.exp(x) }
}

/// φ(x) = max(x, 0). Rows whose φ(q)·z is 0 rely on ε.
public struct ReLUFeatureMap: LinearFeatureMap {
  public init() {}

  @inline(__always)
  public func callAsFunction(_ x: SIMD8<Float>) -> SIMD8<Float> {
    x.replacing(with: 0, where: x .< 0)
  }

  public func reference(_ x: Double) -> Double { max(x, 0) }
}
