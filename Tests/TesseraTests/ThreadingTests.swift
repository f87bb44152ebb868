import Tessera
import Testing

/// Determinism is a contract: O and LSE are bitwise identical for any thread count, because a
/// row's key/value order never depends on which thread runs its tile.
@Suite struct ThreadingTests {
  static let shapes: [AttentionShape] = [
    AttentionShape(
      batch: 2, queryHeads: 4, kvHeads: 2, queryLength: 333, keyLength: 333, headDim: 64),
    AttentionShape(queryHeads: 3, queryLength: 200, keyLength: 500, headDim: 33, valueDim: 20),
    AttentionShape(queryHeads: 8, kvHeads: 1, queryLength: 500, keyLength: 130, headDim: 128),
  ]

  @Test(arguments: [AttentionMask.none, .causal, .causalTopLeft])
  func bitwiseIdenticalAcrossThreadCounts(mask: AttentionMask) throws {
    for (index, shape) in Self.shapes.enumerated() {
      let c = AttentionCase(AttentionProblem(shape: shape, mask: mask), seed: UInt64(index + 50))
      for config in [TileConfig.default, TileConfig(queryTile: 24, keyTile: 20)] {
        let one = try runKernel(c, options: AttentionOptions(threads: 1, tileConfig: config))
        for threads in [2, 3, 4, 7] {
          let many = try runKernel(
            c, options: AttentionOptions(threads: threads, tileConfig: config))
          #expect(bitwiseEqual(one.output, many.output), "\(shape) \(mask) \(config) t=\(threads)")
          #expect(bitwiseEqual(one.lse, many.lse), "\(shape) \(mask) \(config) t=\(threads)")
        }
      }
      // And the single-thread result is right (so "identical" is not "identically wrong").
      #expect(try compareWithReference(c, options: AttentionOptions(threads: 1)).isWithin())
    }
  }

  /// Repeated runs with the same thread count are identical too (no racy accumulation).
  @Test func repeatable() throws {
    let shape = AttentionShape(queryHeads: 4, queryLength: 400, headDim: 64)
    let c = AttentionCase(AttentionProblem(shape: shape, mask: .causal), seed: 60)
    let first = try runKernel(c, options: AttentionOptions(threads: 4))
    for _ in 0..<5 {
      #expect(try runKernel(c, options: AttentionOptions(threads: 4)) == first)
    }
  }

  /// More threads than work items (one query tile of one head), and the default thread count.
  @Test func moreThreadsThanItems() throws {
    let shape = AttentionShape(queryHeads: 1, queryLength: 5, keyLength: 300, headDim: 16)
    let c = AttentionCase(AttentionProblem(shape: shape), seed: 61)
    let one = try runKernel(c, options: AttentionOptions(threads: 1))
    #expect(try runKernel(c, options: AttentionOptions(threads: 64)) == one)
    #expect(try runKernel(c, options: AttentionOptions()) == one)
    #expect(AttentionOptions().threads >= 1)
    #expect(try compareWithReference(c, options: AttentionOptions(threads: 64)).isWithin())
  }
}
