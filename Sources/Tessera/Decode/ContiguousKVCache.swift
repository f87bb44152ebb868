/// A KV cache with a fixed `capacity` of tokens per sequence: sequence `s`'s token `j` is row
/// `s·capacity + j` of each head's buffer. Simple and fastest to read (one run of rows per
/// sequence); memory is reserved for the longest sequence up front.
public final class ContiguousKVCache: KVCache {
  /// Tokens each sequence can hold.
  public let capacity: Int

  /// - Parameters:
  ///   - runtime: the runtime whose topology places each kv head's memory (default: shared).
  public init(
    sequences: Int, capacity: Int, kvHeads: Int, headDim: Int, valueDim: Int? = nil,
    scalarType: ScalarType = .float32, runtime: Runtime? = nil
  ) throws(KVCacheError) {
    if capacity <= 0 { throw .nonPositiveSize(field: "capacity", value: capacity) }
    let (rows, overflow) = sequences.multipliedReportingOverflow(by: capacity)
    if overflow { throw .sizeOverflow(detail: "\(sequences) sequences × \(capacity) tokens") }
    self.capacity = capacity
    try super.init(
      sequences: sequences, rowsPerHead: rows, kvHeads: kvHeads, headDim: headDim,
      valueDim: valueDim, scalarType: scalarType, topology: (runtime ?? .shared).topology)
  }

  /// Appends `tokens` new tokens to `sequence`: `keys` holds (tokens, kvHeads, headDim) and
  /// `values` (tokens, kvHeads, valueDim) elements of `type`, the cache's type or Float32.
  /// Throws `cacheFull` (and changes nothing) when the tokens do not fit.
  public func append(
    sequence: Int, keys: UnsafeRawBufferPointer, values: UnsafeRawBufferPointer, tokens: Int,
    type: ScalarType
  ) throws(KVCacheError) {
    try check(sequence: sequence)
    try checkAppend(keyBytes: keys.count, valueBytes: values.count, tokens: tokens, type: type)
    let length = lengths[sequence]
    if tokens > capacity - length {
      throw .cacheFull(sequence: sequence, length: length, adding: tokens, capacity: capacity)
    }
    guard tokens > 0, let k = keys.baseAddress, let v = values.baseAddress else { return }
    for t in 0..<tokens {
      store(token: t, row: sequence * capacity + length + t, keys: k, values: v, type: type)
    }
    lengths[sequence] = length + tokens
  }

  /// Appends Float32 keys (tokens, kvHeads, headDim) and values (tokens, kvHeads, valueDim).
  public func append(sequence: Int, keys: [Float], values: [Float]) throws(KVCacheError) {
    let tokens = try tokenCount(keys: keys.count, values: values.count)
    try keys.withUnsafeBufferPointer { (k) throws(KVCacheError) in
      try values.withUnsafeBufferPointer { (v) throws(KVCacheError) in
        try append(
          sequence: sequence, keys: UnsafeRawBufferPointer(k), values: UnsafeRawBufferPointer(v),
          tokens: tokens, type: .float32)
      }
    }
  }

  /// Empties `sequence` (its rows are reused by the next append).
  public func reset(sequence: Int) throws(KVCacheError) {
    try check(sequence: sequence)
    lengths[sequence] = 0
  }

  override func rowMap() throws(KVCacheError) -> KVRowMap {
    KVRowMap(
      keyHeads: keyStorage.map { UnsafeRawPointer($0.baseAddress) },
      valueHeads: valueStorage.map { UnsafeRawPointer($0.baseAddress) },
      keyRowBytes: keyRowBytes, valueRowBytes: valueRowBytes, scalarType: scalarType,
      blockRows: capacity, blocks: (0..<lengths.count).map { Int32($0) },
      tableStart: Array(0..<lengths.count), lengths: lengths)
  }
}
