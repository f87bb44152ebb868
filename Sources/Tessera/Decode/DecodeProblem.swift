import Foundation

/// One decode call: a few new query tokens per sequence against a KV cache.
///
/// Q is (batch, queryLength, queryHeads, headDim) and O is (batch, queryLength, queryHeads,
/// valueDim), both contiguous, in `queryType` / `outputType` storage; LSE is Float32 in
/// (batch, queryHeads, queryLength) order, as `AttentionProblem`. Batch entry `b` reads cache
/// sequence `sequences[b]` (default `b`), whose own length is its key length: sequences of
/// different lengths decode in one call without padding.
///
/// The mask is applied per sequence with keyLength = that sequence's cache length; the default,
/// causal bottom-right, lets new token t (of Sq, already appended to the cache) see keys
/// `0 ... length − Sq + t`. Sliding windows, softcap, ALiBi and sinks work as in prefill.
public struct DecodeProblem: Hashable, Sendable, CustomStringConvertible {
  public var batch: Int
  public var queryHeads: Int
  /// New tokens per sequence (Sq): 1 for plain decode, a few for speculative decoding.
  public var queryLength: Int
  /// Cache sequence of each batch entry; `nil`: entry b reads sequence b.
  public var sequences: [Int]?
  public var mask: AttentionMask
  /// Multiplies Q·Kᵀ; `nil` means 1/√headDim.
  public var scale: Float?
  public var modifiers: ScoreModifiers
  public var queryType: ScalarType
  public var outputType: ScalarType

  public init(
    batch: Int, queryHeads: Int, queryLength: Int = 1, sequences: [Int]? = nil,
    mask: AttentionMask = .causal, scale: Float? = nil, modifiers: ScoreModifiers = .none,
    queryType: ScalarType = .float32, outputType: ScalarType? = nil
  ) {
    self.batch = batch
    self.queryHeads = queryHeads
    self.queryLength = queryLength
    self.sequences = sequences
    self.mask = mask
    self.scale = scale
    self.modifiers = modifiers
    self.queryType = queryType
    self.outputType = outputType ?? queryType
  }

  public var description: String {
    "decode B=\(batch) Hq=\(queryHeads) Sq=\(queryLength) mask=\(mask) q=\(queryType) o=\(outputType)"
  }

  /// The cache sequence of batch entry `b`.
  public func sequence(_ b: Int) -> Int { sequences?[b] ?? b }

  /// Element counts of Q, O and LSE against a cache of `kvHeads`, `headDim`, `valueDim`.
  public struct RequiredCounts: Hashable, Sendable {
    public var query: Int
    public var output: Int
    public var lse: Int
  }

  /// Checks sizes, head grouping, mask, modifiers, scale and sequence ids against `cache`.
  @discardableResult
  public func validate(cache: KVCache) throws(DecodeError) -> RequiredCounts {
    for (name, value) in [
      ("batch", batch), ("queryHeads", queryHeads), ("queryLength", queryLength),
    ]
    where value <= 0 {
      throw .attention(.nonPositiveSize(field: name, value: value))
    }
    if queryHeads % cache.kvHeads != 0 {
      throw .attention(.headsNotDivisible(queryHeads: queryHeads, kvHeads: cache.kvHeads))
    }
    do {
      try mask.validate()
      try modifiers.validate(queryHeads: queryHeads)
    } catch {
      throw .attention(error)
    }
    if let scale, !scale.isFinite { throw .attention(.invalidScale(scale)) }
    if let sequences, sequences.count != batch {
      throw .attention(
        .shapeMismatch(tensor: "sequences", axis: "count", expected: batch, actual: sequences.count)
      )
    }
    for b in 0..<batch {
      let s = sequence(b)
      if s < 0 || s >= cache.sequenceCount {
        throw .cache(.invalidSequence(s, sequenceCount: cache.sequenceCount))
      }
    }
    let rows = batch.multipliedReportingOverflow(by: queryLength)
    let (qh, o1) = rows.partialValue.multipliedReportingOverflow(by: queryHeads)
    let (q, o2) = qh.multipliedReportingOverflow(by: cache.headDim)
    let (o, o3) = qh.multipliedReportingOverflow(by: cache.valueDim)
    if rows.overflow || o1 || o2 || o3 { throw .attention(.sizeOverflow(tensor: "Q/O")) }
    return RequiredCounts(query: q, output: o, lse: qh)
  }
}

/// How a decode call runs.
public struct DecodeOptions: Hashable, Sendable {
  /// Worker threads at most (default: every online CPU).
  public var threads: Int
  /// Keys per split (flash-decoding): each (sequence, kv head) is cut into splits of this many
  /// keys at fixed positions `[k·splitSize, (k+1)·splitSize)`, computed as separate work items
  /// and merged by log-sum-exp in split order. A property of the call, never of the thread
  /// count, so the result is bitwise identical for any number of threads. 1024 keys of Float16
  /// K and V at D = 128 is 512 KiB per item: long enough to stream at full bandwidth and to
  /// amortize the merge, short enough that B·Hkv·⌈n/1024⌉ splits load-balance 2–64 cores
  /// (the runtime runs up to 4 consecutive splits of a group as one work item when there are
  /// plenty; the bits do not depend on it).
  public var splitSize: Int
  public var executor: ExecutorKind?
  public var runtime: Runtime?

  public static let defaultSplitSize = 1024

  public init(
    threads: Int? = nil, splitSize: Int = DecodeOptions.defaultSplitSize,
    executor: ExecutorKind? = nil, runtime: Runtime? = nil
  ) {
    self.threads = threads ?? ProcessInfo.processInfo.activeProcessorCount
    self.splitSize = splitSize
    self.executor = executor
    self.runtime = runtime
  }
}
