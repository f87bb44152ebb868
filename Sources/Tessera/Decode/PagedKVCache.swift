/// A KV cache of fixed-size blocks from one pool (vLLM's PagedAttention layout): each sequence
/// has a block table, appends take blocks from a free list as the sequence grows, `fork` shares a
/// sequence's blocks with a new sequence by reference (prefix sharing: beam search, parallel
/// sampling, a shared system prompt), and `release` returns blocks to the pool when their last
/// user lets go.
///
/// Appends give a sequence the block after its last one when that is free, so a growing
/// sequence's blocks stay adjacent (decode reads them in order; see `takeBlock`).
///
/// Blocks carry reference counts. A full shared block is never written again (appends go to
/// fresh blocks); a shared *partial* last block is copied before a sequence appends into it
/// (copy-on-write), so forks never see each other's new tokens.
///
/// Block `b` of head `h` is rows `b·blockSize ..< (b+1)·blockSize` of the head's buffer, so a
/// block is `blockSize·headDim` contiguous elements of one head (2 KiB of Float16 K at
/// blockSize 8, D 128) and a run of rows the kernel reads never crosses a block.
public final class PagedKVCache: KVCache {
  public let blockSize: Int
  public let blockCount: Int
  private var tables: [[Int32]]
  /// References per block; a block is free when it has none.
  private var refcounts: [Int32]
  private var freeCount: Int
  /// The free blocks, for the longest free run (`takeBlock`).
  private var freeRuns: FreeRuns

  /// - Parameters:
  ///   - sequences: sequences that exist (empty) from the start; more come from
  ///     `addSequence()` and `fork(sequence:)`.
  ///   - blocks: blocks in the pool.
  ///   - blockSize: tokens per block.
  public init(
    sequences: Int = 1, blocks: Int, blockSize: Int, kvHeads: Int, headDim: Int,
    valueDim: Int? = nil, scalarType: ScalarType = .float32, runtime: Runtime? = nil
  ) throws(KVCacheError) {
    if blocks <= 0 { throw .nonPositiveSize(field: "blocks", value: blocks) }
    if blockSize <= 0 { throw .nonPositiveSize(field: "blockSize", value: blockSize) }
    let (rows, overflow) = blocks.multipliedReportingOverflow(by: blockSize)
    if overflow { throw .sizeOverflow(detail: "\(blocks) blocks × \(blockSize) tokens") }
    self.blockSize = blockSize
    blockCount = blocks
    tables = Array(repeating: [], count: max(0, sequences))
    refcounts = Array(repeating: 0, count: blocks)
    freeCount = blocks
    freeRuns = FreeRuns(count: blocks)
    try super.init(
      sequences: max(1, sequences), rowsPerHead: rows, kvHeads: kvHeads, headDim: headDim,
      valueDim: valueDim, scalarType: scalarType, topology: (runtime ?? .shared).topology)
    if sequences <= 0 {
      tables = []
      lengths = []
    }
  }

  /// Blocks no sequence references.
  public var freeBlocks: Int { freeCount }

  /// The free block an append gives a sequence whose last block is `previous` (nil: none yet):
  /// the block right after `previous` when it is free, so a growing sequence's blocks stay
  /// adjacent in the pool; otherwise the middle of the longest run of free blocks (its start
  /// when the run begins the pool), which leaves the run's first half to the sequence whose
  /// block precedes it. Decode reads a sequence's blocks in order: with 4 sequences filled
  /// round-robin one block at a time, blocks handed out from a stack left each sequence's
  /// blocks 4 apart, and `tessera decode --batch 4 --heads 32 --kv-heads 8 --kv-seq 32768
  /// --dtype f16 --paged --block-size 16 --threads 2` read 12.9–14.6 GB/s against 17.7–22.4
  /// with each sequence's blocks adjacent (contiguous cache: 17.7–21.3; 4 interleaved rounds).
  /// The longest run comes from `FreeRuns` (O(1); O(log n) per block taken or freed).
  private func takeBlock(after previous: Int32?) -> Int32 {
    if let p = previous.map({ Int($0) + 1 }), p < blockCount, refcounts[p] == 0 {
      return Int32(p)
    }
    let (start, length) = freeRuns.longest
    precondition(length > 0, "no free block (the caller checks freeBlocks first)")
    return Int32(start == 0 ? 0 : start + (length - 1) / 2)
  }

  /// One more reference to `block` (taken off the free list when it had none).
  private func retain(_ block: Int) {
    if refcounts[block] == 0 {
      freeCount -= 1
      freeRuns.set(block, free: false)
    }
    refcounts[block] += 1
  }

  /// One reference fewer on `block` (back on the free list when it was the last).
  private func drop(_ block: Int) {
    refcounts[block] -= 1
    if refcounts[block] == 0 {
      freeCount += 1
      freeRuns.set(block, free: true)
    }
  }

  /// A new empty sequence; returns its id.
  public func addSequence() -> Int {
    tables.append([])
    lengths.append(0)
    return lengths.count - 1
  }

  /// The block ids of `sequence`, in token order.
  public func blockTable(of sequence: Int) throws(KVCacheError) -> [Int32] {
    try check(sequence: sequence)
    return tables[sequence]
  }

  /// References held on `block` (0: free).
  public func referenceCount(ofBlock block: Int) -> Int {
    refcounts.indices.contains(block) ? Int(refcounts[block]) : 0
  }

  /// Appends `tokens` new tokens to `sequence` (layout as `ContiguousKVCache.append`). Takes
  /// the blocks it needs, plus one for copy-on-write when the last block is partial and shared;
  /// throws `outOfBlocks` (and changes nothing) when the pool has too few.
  public func append(
    sequence: Int, keys: UnsafeRawBufferPointer, values: UnsafeRawBufferPointer, tokens: Int,
    type: ScalarType
  ) throws(KVCacheError) {
    try check(sequence: sequence)
    try checkAppend(keyBytes: keys.count, valueBytes: values.count, tokens: tokens, type: type)
    let length = lengths[sequence]
    if tokens > Int(Int32.max) - length {
      throw .sizeOverflow(detail: "sequence \(sequence) would exceed \(Int32.max) tokens")
    }
    guard tokens > 0, let k = keys.baseAddress, let v = values.baseAddress else { return }
    let newLength = length + tokens
    var table = tables[sequence]
    let newBlocks = (newLength + blockSize - 1) / blockSize - table.count
    let filled = length % blockSize
    let copyOnWrite = filled != 0 && refcounts[Int(table[table.count - 1])] > 1
    let needed = newBlocks + (copyOnWrite ? 1 : 0)
    if needed > freeCount {
      throw .outOfBlocks(needed: needed, free: freeCount, total: blockCount)
    }
    if copyOnWrite {
      let shared = Int(table[table.count - 1])
      let fresh = takeBlock(after: table.count >= 2 ? table[table.count - 2] : nil)
      retain(Int(fresh))
      copyRows(from: shared * blockSize, to: Int(fresh) * blockSize, rows: filled)
      drop(shared)
      table[table.count - 1] = fresh
    }
    for _ in 0..<newBlocks {
      let fresh = takeBlock(after: table.last)
      retain(Int(fresh))
      table.append(fresh)
    }
    for t in 0..<tokens {
      let position = length + t
      let row = Int(table[position / blockSize]) * blockSize + position % blockSize
      store(token: t, row: row, keys: k, values: v, type: type)
    }
    tables[sequence] = table
    lengths[sequence] = newLength
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

  /// A new sequence holding the same tokens as `sequence`, sharing all of its blocks by
  /// reference (no copy); returns the new id.
  public func fork(sequence: Int) throws(KVCacheError) -> Int {
    try check(sequence: sequence)
    for b in tables[sequence] { retain(Int(b)) }
    tables.append(tables[sequence])
    lengths.append(lengths[sequence])
    return lengths.count - 1
  }

  /// Empties `sequence`, returning each of its blocks to the free list when no other sequence
  /// still references it. The id stays valid (an empty sequence).
  public func release(sequence: Int) throws(KVCacheError) {
    try check(sequence: sequence)
    for b in tables[sequence].reversed() { drop(Int(b)) }
    tables[sequence] = []
    lengths[sequence] = 0
  }

  /// Gives `sequence` an explicit block table (an external scheduler managing blocks): the
  /// blocks must be distinct ids of the pool, exactly ⌈length / blockSize⌉ of them; blocks that
  /// were free are taken off the free list, blocks in use become shared. The sequence's old
  /// blocks are released. Throws `invalidBlockTable` and changes nothing otherwise.
  public func assign(sequence: Int, blocks: [Int32], length: Int) throws(KVCacheError) {
    try check(sequence: sequence)
    if length < 0 || length > Int(Int32.max) {
      throw .invalidBlockTable(sequence: sequence, detail: "length \(length) is out of range")
    }
    let expected = (length + blockSize - 1) / blockSize
    if blocks.count != expected {
      throw .invalidBlockTable(
        sequence: sequence,
        detail: "\(blocks.count) blocks for \(length) tokens; expected \(expected) of \(blockSize)")
    }
    if let bad = blocks.first(where: { $0 < 0 || Int($0) >= blockCount }) {
      throw .invalidBlockTable(
        sequence: sequence, detail: "block \(bad) is outside the pool 0..<\(blockCount)")
    }
    if Set(blocks).count != blocks.count {
      throw .invalidBlockTable(sequence: sequence, detail: "a block appears twice")
    }
    // Take the new references before dropping the old ones, so blocks in both stay alive.
    for b in blocks { retain(Int(b)) }
    let old = tables[sequence]
    tables[sequence] = blocks
    lengths[sequence] = length
    for b in old.reversed() { drop(Int(b)) }
  }

  override func rowMap() throws(KVCacheError) -> KVRowMap {
    var blocks: [Int32] = []
    var starts: [Int] = []
    for (s, table) in tables.enumerated() {
      let expected = (lengths[s] + blockSize - 1) / blockSize
      if table.count < expected {
        throw .invalidBlockTable(
          sequence: s, detail: "\(table.count) blocks cannot hold \(lengths[s]) tokens")
      }
      if let bad = table.first(where: { $0 < 0 || Int($0) >= blockCount || refcounts[Int($0)] <= 0 }
      ) {
        throw .invalidBlockTable(
          sequence: s, detail: "block \(bad) is not an allocated block of the pool")
      }
      starts.append(blocks.count)
      blocks += table
    }
    return KVRowMap(
      keyHeads: keyStorage.map { UnsafeRawPointer($0.baseAddress) },
      valueHeads: valueStorage.map { UnsafeRawPointer($0.baseAddress) },
      keyRowBytes: keyRowBytes, valueRowBytes: valueRowBytes, scalarType: scalarType,
      blockRows: blockSize, blocks: blocks, tableStart: starts, lengths: lengths)
  }
}
