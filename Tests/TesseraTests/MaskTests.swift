import Tessera
import Testing

/// Causal masks: the visible-key rule itself (checked against hand-written ranges, not against
/// the reference, which uses the same rule), then the kernel against the reference for both
/// alignments with Sq = Skv, Sq < Skv and Sq > Skv (where rows that see no key must give O = 0
/// and LSE = −∞ exactly).
@Suite struct MaskTests {
  @Test func visibleKeysBottomRight() {
    let m = AttentionMask.causal
    // Sq = 3, Skv = 5: the queries are positions 2, 3, 4 of the sequence.
    #expect(m.visibleKeys(query: 0, queryLength: 3, keyLength: 5) == 0..<3)
    #expect(m.visibleKeys(query: 2, queryLength: 3, keyLength: 5) == 0..<5)
    // Sq = 5, Skv = 3: the first two queries see nothing.
    #expect(m.visibleKeys(query: 0, queryLength: 5, keyLength: 3).isEmpty)
    #expect(m.visibleKeys(query: 1, queryLength: 5, keyLength: 3).isEmpty)
    #expect(m.visibleKeys(query: 2, queryLength: 5, keyLength: 3) == 0..<1)
    #expect(m.visibleKeys(query: 4, queryLength: 5, keyLength: 3) == 0..<3)
    // Decode: one query sees every key.
    #expect(m.visibleKeys(query: 0, queryLength: 1, keyLength: 9) == 0..<9)
  }

  @Test func visibleKeysTopLeft() {
    let m = AttentionMask.causalTopLeft
    #expect(m.visibleKeys(query: 0, queryLength: 3, keyLength: 5) == 0..<1)
    #expect(m.visibleKeys(query: 2, queryLength: 3, keyLength: 5) == 0..<3)
    #expect(m.visibleKeys(query: 0, queryLength: 5, keyLength: 3) == 0..<1)
    #expect(m.visibleKeys(query: 4, queryLength: 5, keyLength: 3) == 0..<3)
    #expect(AttentionMask.none.visibleKeys(query: 0, queryLength: 5, keyLength: 3) == 0..<3)
  }

  @Test func defaultsAndDescriptions() {
    #expect(AttentionMask(causal: true) == .causal)
    #expect(AttentionMask.causal.alignment == .bottomRight)
    #expect(AttentionMask.none.description == "none")
    #expect(AttentionMask.causalTopLeft.description == "causal-top-left")
  }

  /// `visiblePairs` (the FLOP count) against a brute-force count.
  @Test(arguments: [(5, 3), (3, 5), (8, 8), (1, 10)])
  func visiblePairs(lengths: (Int, Int)) {
    let (sq, skv) = lengths
    let shape = AttentionShape(batch: 2, queryHeads: 3, queryLength: sq, keyLength: skv, headDim: 4)
    for mask in [AttentionMask.none, .causal, .causalTopLeft] {
      var expected = 0
      for i in 0..<sq {
        for j in 0..<skv {
          let offset = mask.alignment == .bottomRight ? skv - sq : 0
          if !mask.isCausal || j <= i + offset { expected += 1 }
        }
      }
      #expect(AttentionProblem(shape: shape, mask: mask).visiblePairs == expected * 6)
    }
  }

  @Test(arguments: [
    (1, 1), (7, 7), (63, 63), (65, 65), (200, 200),  // Sq = Skv
    (7, 130), (65, 200), (1, 100), (96, 97),  // Sq < Skv: chunked prefill, decode
    (130, 7), (200, 65), (100, 1), (97, 96), (161, 64),  // Sq > Skv: some rows see no key
  ])
  func causalBothAlignments(lengths: (Int, Int)) throws {
    let (sq, skv) = lengths
    for mask in [AttentionMask.causal, .causalTopLeft] {
      let shape = AttentionShape(
        queryHeads: 2, queryLength: sq, keyLength: skv, headDim: 32, valueDim: 24)
      let c = AttentionCase(
        AttentionProblem(shape: shape, mask: mask), seed: UInt64(sq + 1000 * skv))
      let r = try compareWithReference(c)
      #expect(r.isWithin(), "\(shape) \(mask): \(r)")
      // Bottom-right with Sq > Skv leaves exactly Sq − Skv rows per head without a key.
      let expectedMasked = mask == .causal ? max(0, sq - skv) * 2 : 0
      #expect(r.maskedRows == expectedMasked, "\(shape) \(mask)")
    }
  }

  /// Rows that see no key: O = 0 and LSE = −∞ exactly, checked directly on the kernel output
  /// (not through the comparison helper), across tile configs where the empty rows fill whole
  /// tiles, part of a tile, or one row.
  @Test(arguments: [TileConfig.default, TileConfig(queryTile: 24, keyTile: 4)])
  func fullyMaskedRowsAreExact(config: TileConfig) throws {
    for (sq, skv) in [(130, 7), (2, 1), (200, 100), (25, 24)] {
      let shape = AttentionShape(
        batch: 2, queryHeads: 2, queryLength: sq, keyLength: skv, headDim: 20)
      let c = AttentionCase(AttentionProblem(shape: shape, mask: .causal), seed: 37)
      let out = try runKernel(c, options: AttentionOptions(threads: 2, tileConfig: config))
      let empty = sq - skv
      for b in 0..<2 {
        for h in 0..<2 {
          for i in 0..<sq {
            let lse = out.lse[(b * 2 + h) * sq + i]
            let base = ((b * sq + i) * 2 + h) * 20
            let row = out.output[base..<base + 20]
            if i < empty {
              #expect(lse == -.infinity, "b\(b) h\(h) row \(i)")
              #expect(row.allSatisfy { $0 == 0 }, "b\(b) h\(h) row \(i)")
            } else {
              #expect(lse.isFinite, "b\(b) h\(h) row \(i)")
            }
          }
        }
      }
    }
  }

  /// An independent check of the mask inside the kernel: causal row i equals non-causal
  /// attention of that single query over the keys it may see (a prefix). Computed with the
  /// kernel itself on a truncated problem, so a mask bug cannot hide behind a shared helper.
  @Test(arguments: [AttentionMask.causal, .causalTopLeft])
  func causalRowEqualsPrefixAttention(mask: AttentionMask) throws {
    let (sq, skv, d) = (70, 100, 16)
    let shape = AttentionShape(queryHeads: 1, queryLength: sq, keyLength: skv, headDim: d)
    let c = AttentionCase(AttentionProblem(shape: shape, mask: mask), seed: 41)
    let full = try runKernel(c, options: AttentionOptions(threads: 1))
    let offset = mask.alignment == .bottomRight ? skv - sq : 0
    for i in [0, 1, 23, 24, 50, 69] {
      let visible = i + offset + 1
      let single = AttentionShape(queryHeads: 1, queryLength: 1, keyLength: visible, headDim: d)
      let row = AttentionCase(
        AttentionProblem(shape: single), q: Array(c.q[i * d..<(i + 1) * d]),
        k: Array(c.k[..<(visible * d)]), v: Array(c.v[..<(visible * d)]))
      let expected = try runKernel(row, options: AttentionOptions(threads: 1))
      let got = Array(full.output[i * d..<(i + 1) * d])
      let worst = zip(got, expected.output).map { abs($0 - $1) }.max() ?? 0
      #expect(worst <= 1e-5, "\(mask) row \(i)")
      #expect(abs(full.lse[i] - expected.lse[0]) <= 1e-5, "\(mask) row \(i)")
    }
  }
}
