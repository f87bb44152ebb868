import Tessera
import Testing

/// The kernel against the Double reference on O and LSE: lengths that are not tile multiples
/// (the default tile is Br = 96 query rows × Bc = 64 keys), every fast-path head dim and odd
/// ones, Dv ≠ D, cross-attention shapes, batches and non-default tile configs.
@Suite struct ReferenceComparisonTests {
  /// 1 and 7 are shorter than one micro-panel (24 rows) and one key micro-tile (4 keys) is
  /// partial; 63/65 straddle a key tile; 1000 = 10 query tiles + 40 rows and 15 key tiles + 40.
  @Test(arguments: [1, 7, 63, 65, 1000])
  func selfAttentionLengths(length: Int) throws {
    let shape = AttentionShape(queryHeads: 2, queryLength: length, headDim: 64)
    let c = AttentionCase(AttentionProblem(shape: shape), seed: UInt64(length))
    let r = try compareWithReference(c)
    #expect(r.isWithin(), "\(shape): \(r)")
  }

  /// Fast-path dims (64, 80, 96, 128, 256), 32, and odd ones that exercise the clamped
  /// value-dim block (Dv not a multiple of 4) and a 1-element contraction.
  @Test(arguments: [32, 64, 80, 96, 128, 256, 1, 3, 33, 100, 130])
  func headDims(dim: Int) throws {
    let shape = AttentionShape(queryHeads: 1, queryLength: 97, keyLength: 130, headDim: dim)
    let c = AttentionCase(AttentionProblem(shape: shape), seed: UInt64(dim) &* 31)
    let r = try compareWithReference(c)
    #expect(r.isWithin(), "\(shape): \(r)")
  }

  /// valueDim different from headDim, both ways, including 1 and odd sizes.
  @Test(arguments: [(64, 32), (32, 64), (33, 100), (128, 1), (1, 17), (80, 96), (256, 7)])
  func valueDimDiffersFromHeadDim(dims: (Int, Int)) throws {
    let shape = AttentionShape(
      queryHeads: 2, queryLength: 70, keyLength: 90, headDim: dims.0, valueDim: dims.1)
    for mask in [AttentionMask.none, .causal] {
      let c = AttentionCase(AttentionProblem(shape: shape, mask: mask), seed: 7)
      let r = try compareWithReference(c)
      #expect(r.isWithin(), "\(shape) \(mask): \(r)")
    }
  }

  /// Cross-attention: Sq ≠ Skv both ways, including a single query (decode) and a single key.
  @Test(arguments: [(7, 300), (300, 7), (1, 1000), (129, 1), (97, 65), (65, 97)])
  func crossAttention(lengths: (Int, Int)) throws {
    let shape = AttentionShape(
      queryHeads: 2, queryLength: lengths.0, keyLength: lengths.1, headDim: 48, valueDim: 40)
    let c = AttentionCase(AttentionProblem(shape: shape), seed: 11)
    let r = try compareWithReference(c)
    #expect(r.isWithin(), "\(shape): \(r)")
  }

  @Test(arguments: [AttentionMask.none, .causal, .causalTopLeft])
  func batches(mask: AttentionMask) throws {
    let shape = AttentionShape(
      batch: 3, queryHeads: 4, kvHeads: 2, queryLength: 50, keyLength: 77, headDim: 40)
    let c = AttentionCase(AttentionProblem(shape: shape, mask: mask), seed: 13)
    let r = try compareWithReference(c)
    #expect(r.isWithin(), "\(shape) \(mask): \(r)")
    if mask == .causalTopLeft { #expect(r.maskedRows == 0) }
  }

  /// Each batch element must use only its own K and V: swapping batch 1's keys/values must
  /// leave batch 0's output bitwise unchanged and change batch 1's.
  @Test func batchesAreIndependent() throws {
    let shape = AttentionShape(batch: 2, queryHeads: 2, queryLength: 30, headDim: 16)
    let c = AttentionCase(AttentionProblem(shape: shape), seed: 17)
    var d = c
    let half = c.k.count / 2
    var rng = SplitMix64(seed: 99)
    d.k.replaceSubrange(half..., with: rng.floats(half))
    d.v.replaceSubrange(half..., with: rng.floats(half))
    let a = try runKernel(c)
    let b = try runKernel(d)
    let oHalf = a.output.count / 2
    #expect(bitwiseEqual(Array(a.output[..<oHalf]), Array(b.output[..<oHalf])))
    #expect(!bitwiseEqual(Array(a.output[oHalf...]), Array(b.output[oHalf...])))
    #expect(try compareWithReference(d).isWithin())
  }

  /// Tile sizes other than the default: tiny tiles (many partial tiles and masked diagonals),
  /// uneven ones, tiles larger than the sequence, and sizes that are not micro-tile multiples
  /// (Br = 25, 30, 1; Bc = 5, 7, 1), whose buffers are padded.
  @Test(arguments: [
    TileConfig(queryTile: 24, keyTile: 4), TileConfig(queryTile: 48, keyTile: 20),
    TileConfig(queryTile: 72, keyTile: 36), TileConfig(queryTile: 192, keyTile: 128),
    TileConfig(queryTile: 25, keyTile: 5), TileConfig(queryTile: 1, keyTile: 1),
    TileConfig(queryTile: 30, keyTile: 7),
  ])
  func tileConfigs(config: TileConfig) throws {
    for (sq, skv) in [(1, 1), (7, 7), (63, 65), (65, 63), (200, 200), (50, 130)] {
      for mask in [AttentionMask.none, .causal, .causalTopLeft] {
        let shape = AttentionShape(
          queryHeads: 2, kvHeads: 1, queryLength: sq, keyLength: skv, headDim: 33, valueDim: 20)
        let c = AttentionCase(AttentionProblem(shape: shape, mask: mask), seed: UInt64(sq * skv))
        let r = try compareWithReference(
          c, options: AttentionOptions(threads: 2, tileConfig: config))
        #expect(r.isWithin(), "\(config) \(shape) \(mask): \(r)")
      }
    }
  }

  /// Br and Bc are kept as given (at least 1); buffers pad them to whole micro-tiles.
  @Test func tileConfigSizes() {
    #expect(TileConfig(queryTile: 0, keyTile: -3) == TileConfig(queryTile: 1, keyTile: 1))
    let odd = TileConfig(queryTile: 25, keyTile: 5)
    #expect(odd.queryTile == 25 && odd.keyTile == 5)
    #expect(odd.paddedQueryTile == 48 && odd.paddedKeyTile == 8)
    #expect(TileConfig.default.queryTile == 96 && TileConfig.default.keyTile == 64)
  }

  /// The default scale is 1/√D and an explicit scale replaces it. Checked independently of the
  /// reference's own scale handling: scale s on (Q, K) equals the default scale on (Q·s·√D, K).
  @Test(arguments: [Float(0.3), 1, 0.01, 2.5])
  func scaleOverride(scale: Float) throws {
    let shape = AttentionShape(queryHeads: 2, queryLength: 40, keyLength: 60, headDim: 16)
    #expect(AttentionProblem(shape: shape).effectiveScale == 0.25)
    let c = AttentionCase(AttentionProblem(shape: shape, mask: .causal, scale: scale), seed: 23)
    let r = try compareWithReference(c)
    #expect(r.isWithin(), "scale \(scale): \(r)")

    // The same logits through the default scale: Q' = Q·scale·√D = Q·scale·4.
    var d = c
    d.problem.scale = nil
    d.q = c.q.map { $0 * scale * 4 }
    let viaDefault = try runKernel(d)
    let explicit = try runKernel(c)
    let worst = zip(viaDefault.output, explicit.output).map { abs($0 - $1) }.max() ?? 0
    #expect(worst <= 1e-5)
    let worstLSE = zip(viaDefault.lse, explicit.lse).map { abs($0 - $1) }.max() ?? 0
    #expect(worstLSE <= 1e-5)
  }

  /// The buffer API without an LSE buffer gives the same O as with one.
  @Test func withoutLSE() throws {
    let shape = AttentionShape(queryHeads: 2, queryLength: 33, headDim: 24)
    let c = AttentionCase(AttentionProblem(shape: shape, mask: .causal), seed: 29)
    let withLSE = try runKernel(c)
    var out = [Float](repeating: .nan, count: c.counts.output)
    try c.q.withUnsafeBufferPointer { q in
      try c.k.withUnsafeBufferPointer { k in
        try c.v.withUnsafeBufferPointer { v in
          try out.withUnsafeMutableBufferPointer { o in
            try Attention.forward(c.problem, q: q, k: k, v: v, output: o)
          }
        }
      }
    }
    #expect(bitwiseEqual(out, withLSE.output))
  }

  /// The array API matches the buffer API bitwise.
  @Test func arrayAPI() throws {
    let shape = AttentionShape(queryHeads: 4, kvHeads: 2, queryLength: 45, headDim: 20)
    let c = AttentionCase(AttentionProblem(shape: shape, mask: .causal), seed: 31)
    let viaBuffers = try runKernel(c)
    let viaArrays = try Attention.forward(
      c.problem, q: c.q, k: c.k, v: c.v, options: AttentionOptions(threads: 2))
    #expect(bitwiseEqual(viaArrays.output, viaBuffers.output))
    #expect(bitwiseEqual(viaArrays.lse, viaBuffers.lse))
  }
}
