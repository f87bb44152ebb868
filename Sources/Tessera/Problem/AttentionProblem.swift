import Foundation

/// One attention call: sizes, mask, scale and how each tensor is stored.
///
/// The log-sum-exp output, when asked for, is Float32 in (batch, queryHeads, queryLength) order,
/// contiguous: `LSE[b, h, i] = log Σ_j exp(scale·q_i·k_j + mask)`, −∞ for a fully masked row.
public struct AttentionProblem: Hashable, Sendable, CustomStringConvertible {
  public var shape: AttentionShape
  public var mask: AttentionMask
  /// Multiplies Q·Kᵀ; `nil` means 1/√headDim.
  public var scale: Float?
  /// Softcap, ALiBi and sinks.
  public var modifiers: ScoreModifiers
  /// Block-sparse pattern, or nil for dense attention.
  public var blockSparse: BlockSparseMask?
  /// Layout of an additive Float32 bias passed with the call, or nil for none.
  public var bias: BiasLayout?
  /// Sequences of different lengths packed along the sequence axis, or nil.
  public var ragged: RaggedBatch?
  public var query: TensorDescriptor
  public var key: TensorDescriptor
  public var value: TensorDescriptor
  public var output: TensorDescriptor

  /// A problem whose four tensors are contiguous in `order` and stored as `scalarType`.
  public init(
    shape: AttentionShape, mask: AttentionMask = .none, scale: Float? = nil,
    modifiers: ScoreModifiers = .none, blockSparse: BlockSparseMask? = nil,
    order: LayoutOrder = .bshd,
    scalarType: ScalarType = .float32
  ) {
    self.shape = shape
    self.mask = mask
    self.scale = scale
    self.modifiers = modifiers
    self.blockSparse = blockSparse
    let s = shape
    query = TensorDescriptor(
      layout: order.layout(sequence: s.queryLength, heads: s.queryHeads, dim: s.headDim),
      scalarType: scalarType)
    key = TensorDescriptor(
      layout: order.layout(sequence: s.keyLength, heads: s.kvHeads, dim: s.headDim),
      scalarType: scalarType)
    value = TensorDescriptor(
      layout: order.layout(sequence: s.keyLength, heads: s.kvHeads, dim: s.valueDim),
      scalarType: scalarType)
    output = TensorDescriptor(
      layout: order.layout(sequence: s.queryLength, heads: s.queryHeads, dim: s.valueDim),
      scalarType: scalarType)
  }

  /// The scale actually applied.
  public var effectiveScale: Float { scale ?? 1 / Float(shape.headDim).squareRoot() }

  public var description: String {
    var s = "\(shape) mask=\(mask) scale=\(effectiveScale)"
    if let softcap = modifiers.softcap { s += " softcap=\(softcap)" }
    if modifiers.alibiSlopes != nil { s += " alibi" }
    if modifiers.sinks != nil { s += " sinks" }
    if let blockSparse { s += " \(blockSparse)" }
    if bias != nil { s += " bias" }
    if let ragged { s += " ragged(\(ragged.sequences) sequences)" }
    let types = [query, key, value, output].map(\.scalarType)
    if types.contains(where: { $0 != .float32 }) {
      s += " dtype(q,k,v,o)=" + types.map(\.rawValue).joined(separator: ",")
    }
    return s
  }

  /// Number of (query, key) pairs the mask leaves visible, over all batches and query heads.
  public var visiblePairs: Int {
    if let ragged {
      var total = 0
      for b in 0..<ragged.sequences {
        let sq = ragged.queryOffsets[b + 1] - ragged.queryOffsets[b]
        let sk = ragged.keyOffsets[b + 1] - ragged.keyOffsets[b]
        for i in 0..<sq {
          total += mask.visibleKeys(query: i, queryLength: sq, keyLength: sk).count
        }
      }
      return total * shape.queryHeads
    }
    let s = shape
    if mask.isFull && blockSparse == nil {
      return s.queryLength * s.keyLength * s.batch * s.queryHeads
    }
    var total = 0
    let heads = blockSparse.map { $0.heads == 1 ? 1 : s.queryHeads } ?? 1
    for h in 0..<heads {
      var perHead = 0
      for i in 0..<s.queryLength {
        let keys = mask.visibleKeys(query: i, queryLength: s.queryLength, keyLength: s.keyLength)
        guard let sparse = blockSparse, !keys.isEmpty else {
          perHead += keys.count
          continue
        }
        let bs = sparse.blockSize
        for kb in (keys.lowerBound / bs)...((keys.upperBound - 1) / bs)
        where sparse.isKept(head: h, queryBlock: i / bs, keyBlock: kb) {
          perHead += min(keys.upperBound, (kb + 1) * bs) - max(keys.lowerBound, kb * bs)
        }
      }
      total += perHead
    }
    return total * s.batch * (s.queryHeads / heads)
  }

  /// Attention FLOPs: 2·D for Q·Kᵀ and 2·Dv for P·V per visible (query, key) pair (4·D when
  /// D = Dv, the convention of FlashAttention and PyTorch's benchmarks).
  public var flops: Double {
    Double(visiblePairs) * Double(2 * shape.headDim + 2 * shape.valueDim)
  }

  /// Element counts each buffer must hold, after checking sizes, strides and scale.
  public struct RequiredCounts: Hashable, Sendable {
    public var query: Int
    public var key: Int
    public var value: Int
    public var output: Int
    public var lse: Int
    /// Elements of the bias buffer (0 without a bias).
    public var bias: Int
  }

  /// Validates sizes, head grouping, scale and every tensor's strides.
  @discardableResult
  public func validate() throws(AttentionError) -> RequiredCounts {
    try shape.validate()
    try mask.validate()
    try modifiers.validate(queryHeads: shape.queryHeads)
    try blockSparse?.validate(shape: shape)
    if let ragged {
      try ragged.validate(shape: shape)
      if blockSparse != nil || bias != nil {
        throw .unsupportedCombination("a ragged batch with block-sparse or bias")
      }
    }
    if let scale, !scale.isFinite { throw .invalidScale(scale) }
    let s = shape
    let q = try query.layout.requiredCount(
      tensor: "Q", batch: s.batch, sequence: s.queryLength, heads: s.queryHeads, dim: s.headDim)
    let k = try key.layout.requiredCount(
      tensor: "K", batch: s.batch, sequence: s.keyLength, heads: s.kvHeads, dim: s.headDim)
    let v = try value.layout.requiredCount(
      tensor: "V", batch: s.batch, sequence: s.keyLength, heads: s.kvHeads, dim: s.valueDim)
    let o = try output.layout.requiredCount(
      tensor: "O", batch: s.batch, sequence: s.queryLength, heads: s.queryHeads, dim: s.valueDim)
    let (bh, o1) = s.batch.multipliedReportingOverflow(by: s.queryHeads)
    let (lse, o2) = bh.multipliedReportingOverflow(by: s.queryLength)
    if o1 || o2 { throw .sizeOverflow(tensor: "LSE") }
    let bias = try self.bias?.requiredCount(shape: s) ?? 0
    return RequiredCounts(query: q, key: k, value: v, output: o, lse: lse, bias: bias)
  }
}
