/// The sizes of one attention call: `O = softmax(Q·Kᵀ·scale + mask)·V`.
///
/// Q is (batch, queryLength, queryHeads, headDim), K is (batch, keyLength, kvHeads, headDim),
/// V is (batch, keyLength, kvHeads, valueDim) and O is (batch, queryLength, queryHeads, valueDim).
/// Grouped-query attention: query head `h` reads kv head `h / (queryHeads / kvHeads)`, so K and V
/// are never copied per query head. Self-attention has `keyLength == queryLength`; cross-attention,
/// chunked prefill and decode do not.
public struct AttentionShape: Hashable, Sendable, CustomStringConvertible {
  public var batch: Int
  public var queryHeads: Int
  public var kvHeads: Int
  public var queryLength: Int
  public var keyLength: Int
  /// Head dimension of Q and K (the Q·Kᵀ contraction).
  public var headDim: Int
  /// Head dimension of V and O.
  public var valueDim: Int

  public init(
    batch: Int = 1, queryHeads: Int, kvHeads: Int? = nil, queryLength: Int, keyLength: Int? = nil,
    headDim: Int, valueDim: Int? = nil
  ) {
    self.batch = batch
    self.queryHeads = queryHeads
    self.kvHeads = kvHeads ?? queryHeads
    self.queryLength = queryLength
    self.keyLength = keyLength ?? queryLength
    self.headDim = headDim
    self.valueDim = valueDim ?? headDim
  }

  /// Query heads per kv head (1: multi-head, queryHeads: multi-query).
  public var groupSize: Int { queryHeads / kvHeads }

  /// The kv head that query head `h` reads.
  @inlinable public func kvHead(forQueryHead h: Int) -> Int { h / (queryHeads / kvHeads) }

  public var description: String {
    var s = "B=\(batch) Hq=\(queryHeads)"
    if kvHeads != queryHeads { s += " Hkv=\(kvHeads)" }
    s += " Sq=\(queryLength) Skv=\(keyLength) D=\(headDim)"
    if valueDim != headDim { s += " Dv=\(valueDim)" }
    return s
  }

  /// Checks every size; returns the first problem found.
  public func validate() throws(AttentionError) {
    let fields: [(String, Int)] = [
      ("batch", batch), ("queryHeads", queryHeads), ("kvHeads", kvHeads),
      ("queryLength", queryLength), ("keyLength", keyLength), ("headDim", headDim),
      ("valueDim", valueDim),
    ]
    for (name, value) in fields where value <= 0 {
      throw .nonPositiveSize(field: name, value: value)
    }
    if queryHeads % kvHeads != 0 {
      throw .headsNotDivisible(queryHeads: queryHeads, kvHeads: kvHeads)
    }
  }
}
