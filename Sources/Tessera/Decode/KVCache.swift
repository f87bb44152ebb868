/// Keys and values of past tokens for many sequences, stored as Float32, Float16 or BFloat16.
///
/// Storage is head-major: each kv head owns one K buffer and one V buffer of `rowsPerHead`
/// rows (`headDim` / `valueDim` elements each, packed), so a head's memory can live on the NUMA
/// node whose workers read it. The buffers are `PlacedBuffer`s on the node that
/// `WorkPartition.homeNode(group: kvHead, groups: kvHeads, …)` gives, the same node the decode
/// call homes that head's work items on (libnuma binding; without libnuma, an ordinary aligned
/// allocation zeroed by the constructing thread — first touch).
///
/// Which rows of a head's buffer hold a sequence's tokens is the subclass's business:
/// `ContiguousKVCache` gives each sequence `capacity` consecutive rows, `PagedKVCache` gives it a
/// list of fixed-size blocks. Both describe it to the decode kernel the same way (`KVRowMap`):
/// blocks of `blockRows` rows and a block table per sequence; a run of contiguous rows never
/// crosses a block, so one kernel serves both.
///
/// A cache is not thread-safe: append, fork and release must not run concurrently with each
/// other or with a decode call reading the cache.
public class KVCache {
  public let kvHeads: Int
  public let headDim: Int
  public let valueDim: Int
  public let scalarType: ScalarType
  /// Rows in each head's K (and V) buffer.
  let rowsPerHead: Int
  let keyRowBytes: Int
  let valueRowBytes: Int
  let keyStorage: [PlacedBuffer]
  let valueStorage: [PlacedBuffer]
  /// Tokens held per sequence.
  var lengths: [Int]

  init(
    sequences: Int, rowsPerHead: Int, kvHeads: Int, headDim: Int, valueDim: Int?,
    scalarType: ScalarType, topology: Topology
  ) throws(KVCacheError) {
    let valueDim = valueDim ?? headDim
    for (name, value) in [
      ("sequences", sequences), ("rows", rowsPerHead), ("kvHeads", kvHeads),
      ("headDim", headDim), ("valueDim", valueDim),
    ] where value <= 0 {
      throw .nonPositiveSize(field: name, value: value)
    }
    let (kBytes, o1) = rowsPerHead.multipliedReportingOverflow(by: headDim * scalarType.byteCount)
    let (vBytes, o2) = rowsPerHead.multipliedReportingOverflow(by: valueDim * scalarType.byteCount)
    if o1 || o2 || rowsPerHead > Int(Int32.max) {
      throw .sizeOverflow(detail: "\(rowsPerHead) rows per head of \(headDim)+\(valueDim) elements")
    }
    self.kvHeads = kvHeads
    self.headDim = headDim
    self.valueDim = valueDim
    self.scalarType = scalarType
    self.rowsPerHead = rowsPerHead
    keyRowBytes = headDim * scalarType.byteCount
    valueRowBytes = valueDim * scalarType.byteCount
    let nodes = topology.nodes
    var keys: [PlacedBuffer] = []
    var values: [PlacedBuffer] = []
    for h in 0..<kvHeads {
      let position =
        nodes.isEmpty ? 0 : WorkPartition.homeNode(group: h, groups: kvHeads, nodes: nodes.count)
      let node = nodes.isEmpty ? 0 : Placement.memoryNode(for: nodes[position])
      keys.append(PlacedBuffer(byteCount: kBytes, node: node))
      values.append(PlacedBuffer(byteCount: vBytes, node: node))
    }
    keyStorage = keys
    valueStorage = values
    lengths = Array(repeating: 0, count: sequences)
  }

  /// Sequences the cache holds (some may be empty).
  public var sequenceCount: Int { lengths.count }

  /// Tokens held by `sequence`.
  public func length(of sequence: Int) throws(KVCacheError) -> Int {
    try check(sequence: sequence)
    return lengths[sequence]
  }

  func check(sequence: Int) throws(KVCacheError) {
    if sequence < 0 || sequence >= lengths.count {
      throw .invalidSequence(sequence, sequenceCount: lengths.count)
    }
  }

  /// The row layout the decode kernel reads. Subclasses override.
  func rowMap() throws(KVCacheError) -> KVRowMap {
    fatalError("KVCache.rowMap is implemented by ContiguousKVCache and PagedKVCache")
  }

  /// Checks appended data: `tokens` tokens of (kvHeads, headDim) keys and (kvHeads, valueDim)
  /// values, stored as `type` (the cache's type or Float32).
  func checkAppend(
    keyBytes: Int, valueBytes: Int, tokens: Int, type: ScalarType
  ) throws(KVCacheError) {
    if type != scalarType && type != .float32 {
      throw .unsupportedScalarType(
        tensor: "appended K/V", type: type,
        supported: scalarType == .float32 ? [.float32] : [scalarType, .float32])
    }
    if tokens < 0 { throw .nonPositiveSize(field: "tokens", value: tokens) }
    let needK = tokens * kvHeads * headDim * type.byteCount
    let needV = tokens * kvHeads * valueDim * type.byteCount
    if keyBytes < needK {
      throw .shapeMismatch(
        tensor: "keys",
        detail:
          "\(tokens) tokens × \(kvHeads) heads × \(headDim) dims of \(type) need \(needK) bytes, got \(keyBytes)"
      )
    }
    if valueBytes < needV {
      throw .shapeMismatch(
        tensor: "values",
        detail:
          "\(tokens) tokens × \(kvHeads) heads × \(valueDim) dims of \(type) need \(needV) bytes, got \(valueBytes)"
      )
    }
  }

  /// Tokens in Float arrays of (tokens, kvHeads, dim): keys and values must hold the same
  /// whole number of tokens.
  func tokenCount(keys: Int, values: Int) throws(KVCacheError) -> Int {
    let kRow = kvHeads * headDim
    let vRow = kvHeads * valueDim
    if keys % kRow != 0 {
      throw .shapeMismatch(
        tensor: "keys",
        detail: "\(keys) elements is not a whole number of (\(kvHeads), \(headDim)) tokens")
    }
    if values % vRow != 0 {
      throw .shapeMismatch(
        tensor: "values",
        detail: "\(values) elements is not a whole number of (\(kvHeads), \(valueDim)) tokens")
    }
    if keys / kRow != values / vRow {
      throw .shapeMismatch(
        tensor: "values", detail: "holds \(values / vRow) tokens, keys hold \(keys / kRow)")
    }
    return keys / kRow
  }

  /// Writes token `t` of the appended data (all heads) into row `row` of every head.
  func store(
    token t: Int, row: Int, keys: UnsafeRawPointer, values: UnsafeRawPointer, type: ScalarType
  ) {
    for h in 0..<kvHeads {
      Self.convertRow(
        from: keys + (t * kvHeads + h) * headDim * type.byteCount, type: type,
        to: keyStorage[h].baseAddress + row * keyRowBytes, as: scalarType, count: headDim)
      Self.convertRow(
        from: values + (t * kvHeads + h) * valueDim * type.byteCount, type: type,
        to: valueStorage[h].baseAddress + row * valueRowBytes, as: scalarType, count: valueDim)
    }
  }

  /// Copies `rows` rows starting at row `from` to row `to` in every head (copy-on-write).
  func copyRows(from: Int, to: Int, rows: Int) {
    for h in 0..<kvHeads {
      (keyStorage[h].baseAddress + to * keyRowBytes).copyMemory(
        from: keyStorage[h].baseAddress + from * keyRowBytes, byteCount: rows * keyRowBytes)
      (valueStorage[h].baseAddress + to * valueRowBytes).copyMemory(
        from: valueStorage[h].baseAddress + from * valueRowBytes, byteCount: rows * valueRowBytes)
    }
  }

  static func convertRow(
    from source: UnsafeRawPointer, type: ScalarType, to destination: UnsafeMutableRawPointer,
    as target: ScalarType, count: Int
  ) {
    if type == target {
      destination.copyMemory(from: source, byteCount: count * type.byteCount)
      return
    }
    // Only Float32 → narrower reaches here (checked by `checkAppend`).
    let src = source.assumingMemoryBound(to: Float.self)
    for i in 0..<count {
      StorageConversion.store(src[i], as: target, at: destination, index: i)
    }
  }

  /// Reads the keys and values of `sequence` as dense Float arrays of (length, kvHeads, dim),
  /// for tests and debugging.
  public func contents(of sequence: Int) throws(KVCacheError) -> (keys: [Float], values: [Float]) {
    let map = try rowMap()
    let n = map.lengths[sequence]
    var keys = [Float](repeating: 0, count: n * kvHeads * headDim)
    var values = [Float](repeating: 0, count: n * kvHeads * valueDim)
    for j in 0..<n {
      let row = map.row(sequence: sequence, position: j)
      for h in 0..<kvHeads {
        let k = UnsafeRawPointer(keyStorage[h].baseAddress + row * keyRowBytes)
        let v = UnsafeRawPointer(valueStorage[h].baseAddress + row * valueRowBytes)
        for d in 0..<headDim {
          keys[(j * kvHeads + h) * headDim + d] = StorageConversion.load(
            k, as: scalarType, index: d)
        }
        for d in 0..<valueDim {
          values[(j * kvHeads + h) * valueDim + d] = StorageConversion.load(
            v, as: scalarType, index: d)
        }
      }
    }
    return (keys, values)
  }
}

/// How a cache's rows are laid out, as the decode kernel sees it: head `h`'s row `r` lives at
/// `keyHeads[h] + r·keyRowBytes` (and likewise for values); sequence `s`'s token `j` is in
/// block `blocks[tableStart[s] + j / blockRows]`, row `block·blockRows + j % blockRows`.
/// A contiguous cache is the case `blockRows = capacity` with one block per sequence.
struct KVRowMap: @unchecked Sendable {
  let keyHeads: [UnsafeRawPointer]
  let valueHeads: [UnsafeRawPointer]
  let keyRowBytes: Int
  let valueRowBytes: Int
  let scalarType: ScalarType
  let blockRows: Int
  /// Every sequence's block table, back to back.
  let blocks: [Int32]
  let tableStart: [Int]
  let lengths: [Int]

  @inline(__always)
  func row(sequence s: Int, position j: Int) -> Int {
    Int(blocks[tableStart[s] + j / blockRows]) * blockRows + j % blockRows
  }
}
