import Tessera
import Testing

/// Block-sparse attention: the builders' patterns counted by hand, `visiblePairs`/`density`
/// against brute force, the kernel against the Double reference (which filters keys by the same
/// `isKept`, itself checked by hand here) for shared and per-head patterns combined with causal
/// and window masks and block sizes that divide neither 24 nor the sequence, and the cost model.
@Suite struct BlockSparseTests {
  static func keptCount(_ m: BlockSparseMask, heads: Int) -> Int {
    var n = 0
    for h in 0..<heads {
      for qb in 0..<m.queryBlocks {
        for kb in 0..<m.keyBlocks where m.isKept(head: h, queryBlock: qb, keyBlock: kb) { n += 1 }
      }
    }
    return n
  }

  @Test func localGlobalPattern() {
    // 100 tokens in blocks of 16: 7 blocks. Band |qb − kb| ≤ 1: 7 + 6 + 6 = 19 blocks; global
    // column kb = 0 adds qb = 2…6 (5), global row qb = 0 adds kb = 2…6 (5): 29 of 49.
    let m = BlockSparseMask.localGlobal(
      blockSize: 16, queryLength: 100, keyLength: 100, windowBlocks: 1, globalBlocks: 1)
    #expect(m.queryBlocks == 7 && m.keyBlocks == 7 && m.heads == 1)
    #expect(Self.keptCount(m, heads: 1) == 29)
    #expect(m.density == 29.0 / 49.0)
    #expect(m.isKept(head: 3, queryBlock: 5, keyBlock: 0))
    #expect(m.isKept(head: 0, queryBlock: 0, keyBlock: 6))
    #expect(m.isKept(head: 0, queryBlock: 4, keyBlock: 3))
    #expect(!m.isKept(head: 0, queryBlock: 4, keyBlock: 2))
    #expect(!m.isKept(head: 0, queryBlock: 2, keyBlock: 6))
  }

  @Test func stridedPattern() {
    // 7×7 blocks, stride 3: kept when |qb − kb| ∈ {0, 3, 6}: 7 + 2·4 + 2·1 = 17.
    let m = BlockSparseMask.strided(blockSize: 10, queryLength: 70, keyLength: 61, stride: 3)
    #expect(m.queryBlocks == 7 && m.keyBlocks == 7)
    #expect(Self.keptCount(m, heads: 1) == 17)
    #expect(m.isKept(head: 0, queryBlock: 6, keyBlock: 0))
    #expect(m.isKept(head: 0, queryBlock: 4, keyBlock: 1))
    #expect(!m.isKept(head: 0, queryBlock: 4, keyBlock: 2))
    #expect(abs(m.density - 17.0 / 49.0) < 1e-15)
  }

  /// A per-head custom pattern and the same pattern shared through the `heads: 1` initializer.
  @Test func perHeadAndSharedPatterns() {
    let perHead = BlockSparseMask(blockSize: 8, queryLength: 20, keyLength: 33, heads: 3) {
      h, qb, kb in (qb + kb + h) % 3 == 0
    }
    #expect(perHead.heads == 3 && perHead.queryBlocks == 3 && perHead.keyBlocks == 5)
    for h in 0..<3 {
      for qb in 0..<3 {
        for kb in 0..<5 {
          #expect(perHead.isKept(head: h, queryBlock: qb, keyBlock: kb) == ((qb + kb + h) % 3 == 0))
        }
      }
    }
    let shared = BlockSparseMask(blockSize: 8, queryLength: 20, keyLength: 33, heads: 1) {
      h, qb, kb in
      #expect(h == 0)
      return qb == kb
    }
    #expect(shared.isKept(head: 7, queryBlock: 2, keyBlock: 2))
    #expect(!shared.isKept(head: 7, queryBlock: 2, keyBlock: 1))
    #expect(shared.density == 3.0 / 15.0)
  }

  static func perHeadMask(blockSize: Int, sq: Int, skv: Int, heads: Int) -> BlockSparseMask {
    BlockSparseMask(blockSize: blockSize, queryLength: sq, keyLength: skv, heads: heads) {
      h, qb, kb in
      // A pseudo-random pattern per head that keeps the diagonal block.
      qb == kb || (qb &* 31 &+ kb &* 17 &+ h &* 7) % 5 < 2
    }
  }

  /// Brute-force visible pairs: element mask and kept block, per head, times batch.
  static func bruteForcePairs(_ p: AttentionProblem) -> Int {
    let s = p.shape
    var n = 0
    for h in 0..<s.queryHeads {
      for i in 0..<s.queryLength {
        for j in p.mask.visibleKeys(query: i, queryLength: s.queryLength, keyLength: s.keyLength) {
          let bs = p.blockSparse!.blockSize
          if p.blockSparse!.isKept(head: h, queryBlock: i / bs, keyBlock: j / bs) { n += 1 }
        }
      }
    }
    return n * s.batch
  }

  static let masks: [AttentionMask] = [
    .none, .causal, .causalTopLeft, .slidingWindow(left: 40),
    AttentionMask(causal: false, windowLeft: 9, windowRight: 30),
  ]

  @Test(arguments: [7, 16, 37, 50])
  func againstReference(blockSize: Int) throws {
    for (sq, skv) in [(100, 100), (61, 130), (130, 61)] {
      let shape = AttentionShape(
        batch: 2, queryHeads: 4, kvHeads: 2, queryLength: sq, keyLength: skv, headDim: 24,
        valueDim: 20)
      let patterns: [(String, BlockSparseMask)] = [
        (
          "localGlobal",
          .localGlobal(
            blockSize: blockSize, queryLength: sq, keyLength: skv, windowBlocks: 1,
            globalBlocks: 1)
        ),
        ("strided", .strided(blockSize: blockSize, queryLength: sq, keyLength: skv, stride: 3)),
        ("perHead", Self.perHeadMask(blockSize: blockSize, sq: sq, skv: skv, heads: 4)),
      ]
      for (name, pattern) in patterns {
        for (index, mask) in Self.masks.enumerated() {
          let p = AttentionProblem(shape: shape, mask: mask, blockSparse: pattern)
          let c = AttentionCase(p, seed: UInt64(blockSize * 1000 + sq + index))
          let r = try compareWithReference(c)
          #expect(r.isWithin(), "\(name) \(p): \(r)")
          #expect(p.visiblePairs == Self.bruteForcePairs(p), "\(name) \(p)")
        }
      }
    }
  }

  /// Block-sparse with every block kept is the dense computation with tiles of the block size:
  /// bitwise the same result, for masks whose visible keys start at key 0 (with a left window
  /// the dense kernel starts its key tiles at the window's start, the sparse one at block
  /// boundaries, so the sums are grouped differently and only the reference comparison holds).
  @Test(arguments: [
    AttentionMask.none, .causal, .causalTopLeft, AttentionMask(causal: false, windowRight: 20),
  ])
  func allKeptEqualsDense(mask: AttentionMask) throws {
    let shape = AttentionShape(queryHeads: 2, queryLength: 90, keyLength: 110, headDim: 16)
    let all = BlockSparseMask(blockSize: 32, queryLength: 90, keyLength: 110) { _, _, _ in true }
    #expect(all.density == 1)
    let sparse = AttentionCase(
      AttentionProblem(shape: shape, mask: mask, blockSparse: all), seed: 17)
    var dense = sparse
    dense.problem.blockSparse = nil
    let tiles = AttentionOptions(threads: 2, tileConfig: TileConfig(queryTile: 32, keyTile: 32))
    #expect(try runKernel(sparse) == runKernel(dense, options: tiles))
    #expect(sparse.problem.visiblePairs == dense.problem.visiblePairs)
  }

  /// Dropped blocks are never read: K and V rows of a key block that no query keeps are NaN,
  /// and the result is still finite and equal to the reference (a kernel that computed the
  /// block and masked it afterwards would spread NaN through 0·NaN).
  @Test func droppedBlocksAreNotRead() throws {
    let (sq, skv, bs, d) = (64, 80, 16, 8)
    let shape = AttentionShape(queryHeads: 2, queryLength: sq, keyLength: skv, headDim: d)
    let pattern = BlockSparseMask(blockSize: bs, queryLength: sq, keyLength: skv, heads: 2) {
      _, _, kb in kb != 2
    }
    var c = AttentionCase(AttentionProblem(shape: shape, blockSparse: pattern), seed: 6)
    for j in 2 * bs..<3 * bs {
      for h in 0..<2 {
        for e in 0..<d {
          c.k[(j * 2 + h) * d + e] = .nan
          c.v[(j * 2 + h) * d + e] = .nan
        }
      }
    }
    let r = try compareWithReference(c)
    #expect(r.isWithin(), "\(r)")
  }

  /// Query blocks that keep no key block, and blocks the element mask hides, leave rows without
  /// a key: O = 0 and LSE = −∞.
  @Test func rowsWithoutKeptKeys() throws {
    let (sq, skv, bs) = (50, 50, 10)
    let shape = AttentionShape(queryHeads: 2, queryLength: sq, keyLength: skv, headDim: 12)
    // Head 0 drops query block 1 entirely; head 1 keeps only blocks above the diagonal, which
    // the causal mask hides: every row of head 1 is empty.
    let pattern = BlockSparseMask(blockSize: bs, queryLength: sq, keyLength: skv, heads: 2) {
      h, qb, kb in h == 0 ? qb != 1 : kb > qb
    }
    let c = AttentionCase(
      AttentionProblem(shape: shape, mask: .causal, blockSparse: pattern), seed: 9)
    let r = try compareWithReference(c)
    #expect(r.isWithin(), "\(r)")
    #expect(r.maskedRows == bs + sq)
    let out = try runKernel(c)
    for i in 0..<sq {
      #expect((out.lse[i] == -.infinity) == (i / bs == 1), "head 0 row \(i)")
      #expect(out.lse[sq + i] == -.infinity, "head 1 row \(i)")
    }
  }

  /// The FLOP count follows the kept blocks: keeping k of n key blocks per query block (lengths
  /// that are block multiples, no element mask) costs exactly k/n of dense, and `flops` is
  /// 2·(D + Dv) per visible pair.
  @Test func costIsProportionalToKeptBlocks() {
    let (n, bs) = (256, 32)
    let shape = AttentionShape(
      batch: 2, queryHeads: 4, queryLength: n, keyLength: n, headDim: 64, valueDim: 32)
    let dense = AttentionProblem(shape: shape)
    for keep in [1, 2, 4, 8] {
      let pattern = BlockSparseMask(blockSize: bs, queryLength: n, keyLength: n) { _, qb, kb in
        (kb - qb + 8) % 8 < keep
      }
      #expect(pattern.density == Double(keep) / 8)
      let p = AttentionProblem(shape: shape, blockSparse: pattern)
      #expect(p.visiblePairs * 8 == dense.visiblePairs * keep)
      #expect(p.flops * 8 == dense.flops * Double(keep))
      #expect(p.flops == Double(p.visiblePairs) * Double(2 * 64 + 2 * 32))
    }
    // Per head: head h keeps h + 1 key blocks per query block; shared vs per-head counting.
    let perHead = BlockSparseMask(blockSize: bs, queryLength: n, keyLength: n, heads: 4) {
      h, qb, kb in (kb - qb + 8) % 8 <= h
    }
    let p = AttentionProblem(shape: shape, blockSparse: perHead)
    #expect(p.visiblePairs == 2 * (1 + 2 + 3 + 4) * n * bs)
    #expect(perHead.density == 10.0 / 32.0)
    // With causal: only blocks on or below the diagonal count, the diagonal block half + n/2.
    let causal = AttentionProblem(
      shape: shape, mask: .causal,
      blockSparse: BlockSparseMask(blockSize: bs, queryLength: n, keyLength: n) { _, _, kb in
        kb == 0
      })
    // Query block 0 keeps its (causal) diagonal block: bs(bs+1)/2 pairs; blocks 1…7 keep key
    // block 0 fully: 7·bs·bs.
    #expect(causal.visiblePairs == 2 * 4 * (bs * (bs + 1) / 2 + 7 * bs * bs))
  }
}
