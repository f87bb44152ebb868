/// Everything that can be wrong with a KV cache operation. Each case says what was asked and
/// what the cache can take; a failed operation leaves the cache unchanged.
public enum KVCacheError: Error, Hashable, Sendable, CustomStringConvertible {
  /// A size of the cache's configuration is zero or negative.
  case nonPositiveSize(field: String, value: Int)
  /// A sequence id outside `0..<sequenceCount`.
  case invalidSequence(Int, sequenceCount: Int)
  /// A contiguous cache's sequence has no room for the new tokens.
  case cacheFull(sequence: Int, length: Int, adding: Int, capacity: Int)
  /// A paged cache's pool has too few free blocks.
  case outOfBlocks(needed: Int, free: Int, total: Int)
  /// New keys / values do not have the cache's shape.
  case shapeMismatch(tensor: String, detail: String)
  /// Appended data is neither Float32 nor the cache's storage type.
  case unsupportedScalarType(tensor: String, type: ScalarType, supported: [ScalarType])
  /// A block table names a block outside the pool, a free block, a block twice, or has the
  /// wrong number of blocks for its length.
  case invalidBlockTable(sequence: Int, detail: String)
  /// The total size overflows `Int` or the 32-bit positions the kernel uses.
  case sizeOverflow(detail: String)

  public var description: String {
    switch self {
    case .nonPositiveSize(let field, let value):
      return "\(field) must be positive, got \(value)"
    case .invalidSequence(let s, let n):
      return "sequence \(s) does not exist; expected 0..<\(n)"
    case .cacheFull(let s, let length, let adding, let capacity):
      return "sequence \(s) holds \(length) of \(capacity) tokens; cannot append \(adding) more"
    case .outOfBlocks(let needed, let free, let total):
      return "the block pool needs \(needed) free blocks, has \(free) free of \(total)"
    case .shapeMismatch(let tensor, let detail):
      return "\(tensor): \(detail)"
    case .unsupportedScalarType(let tensor, let type, let supported):
      return "\(tensor): storage type \(type) is not accepted here; expected one of "
        + supported.map(\.rawValue).joined(separator: ", ")
    case .invalidBlockTable(let s, let detail):
      return "block table of sequence \(s) is invalid: \(detail)"
    case .sizeOverflow(let detail):
      return "size overflow: \(detail)"
    }
  }
}

/// What a decode call can get wrong: the problem (shapes, modifiers, buffers) or the cache.
public enum DecodeError: Error, Hashable, Sendable, CustomStringConvertible {
  case attention(AttentionError)
  case cache(KVCacheError)

  public var description: String {
    switch self {
    case .attention(let e): return e.description
    case .cache(let e): return e.description
    }
  }
}
