import Tessera
import Testing

/// KV caches: round trips in every storage type, typed errors, and the paged cache's block
/// bookkeeping (fork by reference, copy-on-write, release, out of blocks, block tables).
@Suite struct KVCacheTests {
  @Test(arguments: ScalarType.allCases)
  func contiguousRoundTrip(type: ScalarType) throws {
    let f = DecodeFixture(
      lengths: [7, 0, 20], kvHeads: 3, headDim: 10, valueDim: 6, type: type, seed: 3)
    for native in [false, true] {
      let cache = try f.contiguous(capacity: 25, nativeAppend: native)
      for s in 0..<3 {
        #expect(try cache.length(of: s) == f.lengths[s])
        let (k, v) = try cache.contents(of: s)
        #expect(k == f.keys[s])
        #expect(v == f.values[s])
      }
    }
  }

  @Test func contiguousErrors() throws {
    let cache = try ContiguousKVCache(
      sequences: 2, capacity: 4, kvHeads: 2, headDim: 8, scalarType: .float16)
    let token = [Float](repeating: 0.5, count: 2 * 8)
    try cache.append(sequence: 0, keys: token + token + token, values: token + token + token)
    #expect(throws: KVCacheError.cacheFull(sequence: 0, length: 3, adding: 2, capacity: 4)) {
      try cache.append(sequence: 0, keys: token + token, values: token + token)
    }
    #expect(try cache.length(of: 0) == 3)  // unchanged by the failed append
    #expect(throws: KVCacheError.invalidSequence(2, sequenceCount: 2)) {
      try cache.append(sequence: 2, keys: token, values: token)
    }
    #expect(throws: KVCacheError.self) {
      try cache.append(sequence: 1, keys: token, values: token + token)
    }
    #expect(throws: KVCacheError.self) {
      try cache.append(sequence: 1, keys: [1, 2, 3], values: [1, 2, 3])
    }
    // BFloat16 data into a Float16 cache.
    let bytes = [UInt8](repeating: 0, count: 2 * 8 * 2)
    #expect(
      throws: KVCacheError.unsupportedScalarType(
        tensor: "appended K/V", type: .bfloat16, supported: [.float16, .float32])
    ) {
      try bytes.withUnsafeBytes { raw in
        try cache.append(sequence: 1, keys: raw, values: raw, tokens: 1, type: .bfloat16)
      }
    }
    #expect(throws: KVCacheError.self) {
      _ = try ContiguousKVCache(sequences: 0, capacity: 4, kvHeads: 2, headDim: 8)
    }
    try cache.reset(sequence: 0)
    #expect(try cache.length(of: 0) == 0)
  }

  @Test(arguments: ScalarType.allCases)
  func pagedRoundTrip(type: ScalarType) throws {
    let f = DecodeFixture(
      lengths: [9, 16, 1, 0, 33], kvHeads: 2, headDim: 16, valueDim: 8, type: type, seed: 4)
    let cache = try f.paged(blockSize: 4)
    for s in 0..<f.lengths.count {
      #expect(try cache.blockTable(of: s).count == (f.lengths[s] + 3) / 4)
      let (k, v) = try cache.contents(of: s)
      #expect(k == f.keys[s])
      #expect(v == f.values[s])
    }
  }

  /// Fork shares every block; appending to a shared partial last block copies it first, and
  /// appending after a shared full block takes a fresh one; release frees only unshared blocks.
  @Test func forkCopyOnWriteRelease() throws {
    let f = DecodeFixture(lengths: [10], kvHeads: 2, headDim: 8, type: .float16, seed: 9)
    let cache = try PagedKVCache(
      sequences: 1, blocks: 8, blockSize: 4, kvHeads: 2, headDim: 8, scalarType: .float16)
    try cache.append(sequence: 0, keys: f.keys[0], values: f.values[0])
    #expect(cache.freeBlocks == 5)
    let parent = try cache.blockTable(of: 0)
    let child = try cache.fork(sequence: 0)
    #expect(try cache.blockTable(of: child) == parent)
    #expect(cache.freeBlocks == 5)  // shared by reference, nothing copied
    for b in parent { #expect(cache.referenceCount(ofBlock: Int(b)) == 2) }

    var rng = DecodeRandom(seed: 10)
    let newK = rng.floats(2 * 8, type: .float16)
    let newV = rng.floats(2 * 8, type: .float16)
    try cache.append(sequence: child, keys: newK, values: newV)
    let childTable = try cache.blockTable(of: child)
    #expect(Array(childTable.prefix(2)) == Array(parent.prefix(2)))  // full blocks still shared
    #expect(childTable[2] != parent[2])  // the partial block was copied
    #expect(cache.referenceCount(ofBlock: Int(parent[2])) == 1)
    #expect(cache.freeBlocks == 4)
    // The parent is untouched; the child has the prefix plus its new token.
    #expect(try cache.contents(of: 0).keys == f.keys[0])
    #expect(try cache.contents(of: child).keys == f.keys[0] + newK)
    #expect(try cache.contents(of: child).values == f.values[0] + newV)

    // Fill the child's partial block to 12 tokens, fork again, append: a full shared block is
    // left alone and the new token goes to a fresh block.
    try cache.append(sequence: child, keys: newK, values: newV)
    let grandchild = try cache.fork(sequence: child)
    try cache.append(sequence: grandchild, keys: newK, values: newV)
    #expect(
      Array(try cache.blockTable(of: grandchild).prefix(3)) == (try cache.blockTable(of: child)))
    #expect(try cache.contents(of: child).keys == f.keys[0] + newK + newK)

    try cache.release(sequence: child)
    #expect(try cache.length(of: child) == 0)
    // The child's private block is still used by the grandchild; nothing is freed yet.
    #expect(cache.freeBlocks == 3)
    try cache.release(sequence: grandchild)
    #expect(cache.freeBlocks == 5)
    try cache.release(sequence: 0)
    #expect(cache.freeBlocks == 8)
    for b in 0..<8 { #expect(cache.referenceCount(ofBlock: b) == 0) }
  }

  @Test func outOfBlocksChangesNothing() throws {
    let cache = try PagedKVCache(sequences: 2, blocks: 3, blockSize: 4, kvHeads: 1, headDim: 8)
    let tokens = { (n: Int) in [Float](repeating: 0.25, count: n * 8) }
    try cache.append(sequence: 0, keys: tokens(6), values: tokens(6))
    #expect(throws: KVCacheError.outOfBlocks(needed: 2, free: 1, total: 3)) {
      try cache.append(sequence: 1, keys: tokens(5), values: tokens(5))
    }
    #expect(try cache.length(of: 1) == 0)
    #expect(cache.freeBlocks == 1)
    // Copy-on-write needs a block too.
    let child = try cache.fork(sequence: 0)
    try cache.append(sequence: 1, keys: tokens(4), values: tokens(4))
    #expect(throws: KVCacheError.outOfBlocks(needed: 1, free: 0, total: 3)) {
      try cache.append(sequence: child, keys: tokens(1), values: tokens(1))
    }
    #expect(try cache.length(of: child) == 6)
    #expect(throws: KVCacheError.invalidSequence(9, sequenceCount: 3)) {
      _ = try cache.fork(sequence: 9)
    }
    #expect(throws: KVCacheError.self) { try cache.release(sequence: -1) }
  }

  /// Appends keep a growing sequence's blocks adjacent in the pool (decode reads them in order;
  /// scattered blocks read ~30 % slower at 2 threads): 4 sequences appended round-robin one
  /// block at a time each get consecutive block ids, and no block twice.
  @Test func roundRobinAppendsKeepBlocksAdjacent() throws {
    let cache = try PagedKVCache(sequences: 4, blocks: 64, blockSize: 4, kvHeads: 1, headDim: 8)
    let block = [Float](repeating: 1, count: 4 * 8)
    for _ in 0..<8 {
      for s in 0..<4 { try cache.append(sequence: s, keys: block, values: block) }
    }
    var all: [Int32] = []
    for s in 0..<4 {
      let table = try cache.blockTable(of: s)
      #expect(table.count == 8)
      #expect(zip(table, table.dropFirst()).allSatisfy { $1 == $0 + 1 }, "sequence \(s): \(table)")
      all += table
    }
    #expect(Set(all).count == 32)
    #expect(cache.freeBlocks == 32)
  }

  /// The pool's allocation policy under churn: random appends (with copy-on-write), forks,
  /// releases and explicit tables on a 61-block pool, every block table checked after each step
  /// against a model that scans the pool for the leftmost longest free run (the policy
  /// `takeBlock` keeps with `FreeRuns`).
  @Test func allocationUnderChurnMatchesTheScanModel() throws {
    let blockSize = 3
    let cache = try PagedKVCache(
      sequences: 3, blocks: 61, blockSize: blockSize, kvHeads: 1, headDim: 2)
    var model = PoolModel(blocks: 61, blockSize: blockSize, sequences: 3)
    var g = SplitMix64(seed: 77)
    for step in 0..<3000 {
      let s = Int(g.next() % UInt64(model.tables.count))
      switch g.next() % 10 {
      case 0..<6:
        let tokens = 1 + Int(g.next() % 7)
        let data = [Float](repeating: 1, count: tokens * 2)
        if model.append(sequence: s, tokens: tokens) {
          try cache.append(sequence: s, keys: data, values: data)
        } else {
          #expect(throws: KVCacheError.self) {
            try cache.append(sequence: s, keys: data, values: data)
          }
        }
      case 6:
        if model.tables.count < 12 {
          #expect(try cache.fork(sequence: s) == model.fork(sequence: s))
        }
      case 7, 8:
        try cache.release(sequence: s)
        model.release(sequence: s)
      default:
        // An explicit table of free blocks from the top of the pool (fragments it).
        let free = (0..<61).filter { model.refcounts[$0] == 0 }.suffix(2).map(Int32.init)
        if free.count == 2 {
          try cache.assign(sequence: s, blocks: free, length: 2 * blockSize)
          model.assign(sequence: s, blocks: free, length: 2 * blockSize)
        }
      }
      for t in model.tables.indices {
        #expect(try cache.blockTable(of: t) == model.tables[t], "step \(step), sequence \(t)")
      }
      #expect(cache.freeBlocks == model.refcounts.count { $0 == 0 })
    }
  }

  @Test func blockTables() throws {
    let cache = try PagedKVCache(sequences: 2, blocks: 6, blockSize: 4, kvHeads: 1, headDim: 8)
    #expect(throws: KVCacheError.self) { try cache.assign(sequence: 0, blocks: [0, 1], length: 9) }
    #expect(throws: KVCacheError.self) { try cache.assign(sequence: 0, blocks: [0, 6], length: 8) }
    #expect(throws: KVCacheError.self) { try cache.assign(sequence: 0, blocks: [2, 2], length: 8) }
    #expect(throws: KVCacheError.self) { try cache.assign(sequence: 0, blocks: [-1], length: 1) }
    #expect(cache.freeBlocks == 6)
    try cache.assign(sequence: 0, blocks: [5, 3], length: 7)
    #expect(cache.freeBlocks == 4)
    try cache.assign(sequence: 1, blocks: [5], length: 4)  // shares block 5
    #expect(cache.referenceCount(ofBlock: 5) == 2)
    // Appending to sequence 0 fills block 3 (private) in place.
    try cache.append(
      sequence: 0, keys: [Float](repeating: 1, count: 8), values: [Float](repeating: 1, count: 8))
    #expect(try cache.blockTable(of: 0) == [5, 3])
    try cache.release(sequence: 0)
    #expect(cache.referenceCount(ofBlock: 5) == 1)
    #expect(cache.freeBlocks == 5)
  }
}

/// The paged pool's bookkeeping with the allocation policy written as a scan: the block after a
/// sequence's last when free, else the middle of the leftmost longest free run (its start when
/// the run begins the pool).
struct PoolModel {
  var refcounts: [Int]
  var tables: [[Int32]]
  var lengths: [Int]
  let blockSize: Int

  init(blocks: Int, blockSize: Int, sequences: Int) {
    refcounts = Array(repeating: 0, count: blocks)
    tables = Array(repeating: [], count: sequences)
    lengths = Array(repeating: 0, count: sequences)
    self.blockSize = blockSize
  }

  func take(after previous: Int32?) -> Int32 {
    if let p = previous.map({ Int($0) + 1 }), p < refcounts.count, refcounts[p] == 0 {
      return Int32(p)
    }
    var bestStart = 0
    var bestLength = 0
    var start = 0
    for b in refcounts.indices where refcounts[b] == 0 {
      if b == 0 || refcounts[b - 1] != 0 { start = b }
      if b - start + 1 > bestLength {
        bestStart = start
        bestLength = b - start + 1
      }
    }
    return Int32(bestStart == 0 ? 0 : bestStart + (bestLength - 1) / 2)
  }

  /// False (and nothing changes) when the pool has too few free blocks.
  mutating func append(sequence s: Int, tokens: Int) -> Bool {
    var table = tables[s]
    let newLength = lengths[s] + tokens
    let newBlocks = (newLength + blockSize - 1) / blockSize - table.count
    let filled = lengths[s] % blockSize
    let copyOnWrite = filled != 0 && refcounts[Int(table[table.count - 1])] > 1
    if newBlocks + (copyOnWrite ? 1 : 0) > refcounts.count(where: { $0 == 0 }) { return false }
    if copyOnWrite {
      let fresh = take(after: table.count >= 2 ? table[table.count - 2] : nil)
      refcounts[Int(fresh)] = 1
      refcounts[Int(table[table.count - 1])] -= 1
      table[table.count - 1] = fresh
    }
    for _ in 0..<newBlocks {
      let fresh = take(after: table.last)
      refcounts[Int(fresh)] = 1
      table.append(fresh)
    }
    tables[s] = table
    lengths[s] = newLength
    return true
  }

  mutating func fork(sequence s: Int) -> Int {
    for b in tables[s] { refcounts[Int(b)] += 1 }
    tables.append(tables[s])
    lengths.append(lengths[s])
    return tables.count - 1
  }

  mutating func release(sequence s: Int) {
    for b in tables[s] { refcounts[Int(b)] -= 1 }
    tables[s] = []
    lengths[s] = 0
  }

  mutating func assign(sequence s: Int, blocks: [Int32], length: Int) {
    for b in blocks { refcounts[Int(b)] += 1 }
    for b in tables[s] { refcounts[Int(b)] -= 1 }
    tables[s] = blocks
    lengths[s] = length
  }
}
