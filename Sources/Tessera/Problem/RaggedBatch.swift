/// Sequences of different lengths packed into one call without padding, as FlashAttention's
/// `cu_seqlens`: sequence `s` owns query rows `queryOffsets[s]..<queryOffsets[s+1]` and key rows
/// `keyOffsets[s]..<keyOffsets[s+1]` of the packed tensors, and attends only within itself.
///
/// The problem then describes the packed tensors: `shape.batch == 1`, `shape.queryLength` and
/// `shape.keyLength` are the total token counts; masks, ALiBi positions and LSE rows are per
/// sequence (a causal mask is causal inside each sequence, aligned as the mask says).
public struct RaggedBatch: Hashable, Sendable {
  /// Cumulative query lengths: `sequences + 1` values, from 0 to the total.
  public let queryOffsets: [Int]
  /// Cumulative key lengths: `sequences + 1` values, from 0 to the total.
  public let keyOffsets: [Int]

  public init(queryOffsets: [Int], keyOffsets: [Int]) {
    self.queryOffsets = queryOffsets
    self.keyOffsets = keyOffsets
  }

  /// Self-attention over sequences of the given lengths (keys = queries).
  public init(lengths: [Int]) {
    var offsets = [0]
    for length in lengths { offsets.append(offsets[offsets.count - 1] + length) }
    self.init(queryOffsets: offsets, keyOffsets: offsets)
  }

  public var sequences: Int { max(0, queryOffsets.count - 1) }

  func validate(shape: AttentionShape) throws(AttentionError) {
    if shape.batch != 1 {
      throw .shapeMismatch(
        tensor: "ragged", axis: "batch (packed tensors)", expected: 1, actual: shape.batch)
    }
    if queryOffsets.count != keyOffsets.count || queryOffsets.count < 2 {
      throw .invalidRagged(
        detail: "needs sequences + 1 ≥ 2 offsets for queries and keys alike, got "
          + "\(queryOffsets.count) and \(keyOffsets.count)")
    }
    for (name, offsets, total) in [
      ("queryOffsets", queryOffsets, shape.queryLength),
      ("keyOffsets", keyOffsets, shape.keyLength),
    ] {
      if offsets[0] != 0 {
        throw .invalidRagged(detail: "\(name) must start at 0, got \(offsets[0])")
      }
      for s in 1..<offsets.count where offsets[s] < offsets[s - 1] {
        throw .invalidRagged(detail: "\(name) decreases at sequence \(s - 1)")
      }
      if offsets[offsets.count - 1] != total {
        throw .invalidRagged(
          detail:
            "\(name) must end at the packed length \(total), got \(offsets[offsets.count - 1])")
      }
    }
  }
}
