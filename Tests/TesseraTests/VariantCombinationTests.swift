import Tessera
import Testing

/// The combinations issue 5 names, against the Double reference extended with the same
/// features, and the determinism contract for variant problems: bitwise identical O and LSE
/// for 1, 2 and 3 threads.
@Suite struct VariantCombinationTests {
  static let lengths = [(150, 150), (77, 200), (200, 77), (1, 129)]

  /// GQA + causal + window + softcap, both alignments, tile configs with and without
  /// 24-multiples.
  @Test(arguments: [CausalAlignment.bottomRight, .topLeft])
  func gqaCausalWindowSoftcap(alignment: CausalAlignment) throws {
    for (sq, skv) in Self.lengths {
      for (window, config) in [
        (31, TileConfig.default), (0, TileConfig(queryTile: 24, keyTile: 12)),
        (100, TileConfig(queryTile: 40, keyTile: 24)),
      ] {
        let shape = AttentionShape(
          batch: 2, queryHeads: 8, kvHeads: 2, queryLength: sq, keyLength: skv, headDim: 40,
          valueDim: 24)
        let p = AttentionProblem(
          shape: shape, mask: .slidingWindow(left: window, alignment: alignment),
          modifiers: ScoreModifiers(softcap: 15))
        let c = AttentionCase(p, seed: UInt64(sq * 7 + skv + window), amplitude: 3)
        let r = try compareWithReference(
          c, options: AttentionOptions(threads: 2, tileConfig: config))
        #expect(r.isWithin(), "\(p) \(config): \(r)")
      }
    }
  }

  /// Ragged + causal (both alignments) with GQA and MQA.
  @Test(arguments: [AttentionMask.causal, .causalTopLeft], [1, 2])
  func raggedCausal(mask: AttentionMask, kvHeads: Int) throws {
    let p = RaggedTests.packed(
      queryOffsets: [0, 64, 65, 65, 165, 200], keyOffsets: [0, 64, 130, 140, 240, 250],
      heads: 4, kvHeads: kvHeads, mask: mask)
    let c = AttentionCase(p, seed: UInt64(61 + kvHeads))
    let r = try compareWithReference(c)
    #expect(r.isWithin(), "\(p): \(r)")
    try RaggedTests.expectEachSequenceEqualsAlone(c)
  }

  /// Window + ALiBi + sinks + GQA + Float16 K/V (Float32 Q and O), also with a right window.
  @Test(arguments: [
    AttentionMask.slidingWindow(left: 40), .slidingWindow(left: 13, alignment: .topLeft),
    AttentionMask(causal: false, windowLeft: 20, windowRight: 20),
  ])
  func windowAlibiSinksGQAHalfKV(mask: AttentionMask) throws {
    for (sq, skv) in Self.lengths {
      let shape = AttentionShape(
        queryHeads: 6, kvHeads: 2, queryLength: sq, keyLength: skv, headDim: 32, valueDim: 40)
      var p = AttentionProblem(
        shape: shape, mask: mask,
        modifiers: ScoreModifiers(
          alibiSlopes: ScoreModifiers.standardAlibiSlopes(heads: 6),
          sinks: [1, 0, -2, 4, 0.5, -0.5]))
      p = withTypes(p, q: .float32, k: .float16, v: .float16, o: .float32)
      let c = AttentionCase(p, seed: UInt64(sq + skv)).roundedToStorage
      try expectMatchesReferenceRounded(c, "\(p)")
    }
  }

  /// Block-sparse (per head) + window + every modifier + GQA + BFloat16 storage.
  @Test func blockSparseWithEverything() throws {
    for (sq, skv) in [(120, 120), (70, 133)] {
      let shape = AttentionShape(
        queryHeads: 4, kvHeads: 2, queryLength: sq, keyLength: skv, headDim: 24)
      var p = AttentionProblem(
        shape: shape, mask: .slidingWindow(left: 60),
        modifiers: ScoreModifiers(
          softcap: 10, alibiSlopes: ScoreModifiers.standardAlibiSlopes(heads: 4),
          sinks: [0, 1, 2, 3]),
        blockSparse: BlockSparseTests.perHeadMask(blockSize: 20, sq: sq, skv: skv, heads: 4))
      p = withTypes(p, q: .bfloat16, k: .bfloat16, v: .bfloat16, o: .bfloat16)
      let c = AttentionCase(p, seed: UInt64(sq), amplitude: 2).roundedToStorage
      try expectMatchesReferenceRounded(c, "\(p)")
    }
  }

  /// Bias + window + GQA + sinks-free ALiBi: a per-head bias row added to ALiBi scores equals
  /// the naive biased computation with ALiBi folded into the bias (ALiBi is additive).
  @Test func biasWithAlibiAndWindow() throws {
    let (sq, skv, heads) = (60, 80, 4)
    let slopes = ScoreModifiers.standardAlibiSlopes(heads: heads)
    let shape = AttentionShape(
      batch: 2, queryHeads: heads, kvHeads: 1, queryLength: sq, keyLength: skv, headDim: 16)
    let mask = AttentionMask.slidingWindow(left: 30)
    var c = AttentionCase(
      AttentionProblem(shape: shape, mask: mask, modifiers: ScoreModifiers(alibiSlopes: slopes)),
      seed: 63)
    let layout = BiasLayout(batchStride: 0, headStride: skv, queryStride: 0)
    c.problem.bias = layout
    let extra: (Int, Int, Int, Int) -> Float = { _, h, _, j in Float((j * (h + 1)) % 7) * 0.3 }
    let kernel = try runRaw(c, bias: makeBias(layout, shape: shape, count: heads * skv, extra))
    var plain = c
    plain.problem.modifiers = .none
    plain.problem.bias = nil
    let expected = naiveBiasedAttention(plain) { _, h, i, j in
      let p = i + skv - sq
      return Double(extra(0, h, i, j)) - Double(slopes[h]) * Double(abs(p - j))
    }
    let r = compare(kernel, expected, problem: c.problem)
    #expect(r.isWithin(), "\(r)")
  }

  /// Bias + block-sparse (per head) + causal + GQA: the naive biased computation with the
  /// dropped blocks as −∞ entries.
  @Test(arguments: [13, 32])
  func biasWithBlockSparse(blockSize: Int) throws {
    let (sq, skv, heads) = (70, 90, 4)
    let shape = AttentionShape(
      batch: 2, queryHeads: heads, kvHeads: 2, queryLength: sq, keyLength: skv, headDim: 16)
    let pattern = BlockSparseTests.perHeadMask(blockSize: blockSize, sq: sq, skv: skv, heads: heads)
    var c = AttentionCase(
      AttentionProblem(shape: shape, mask: .causal, blockSparse: pattern), seed: 64)
    c.problem.bias = .dense(shape: shape)
    let value: (Int, Int, Int, Int) -> Float = { b, h, i, j in
      Float((b + 2 * h + 3 * i + j) % 9) * 0.2 - 0.8
    }
    let counts = try c.problem.validate()
    let kernel = try runRaw(
      c, bias: makeBias(.dense(shape: shape), shape: shape, count: counts.bias, value))
    let expected = naiveBiasedAttention(c) { b, h, i, j in
      pattern.isKept(head: h, queryBlock: i / blockSize, keyBlock: j / blockSize)
        ? Double(value(b, h, i, j)) : -.infinity
    }
    let r = compare(kernel, expected, problem: c.problem)
    #expect(r.isWithin(), "\(r)")
  }

  // MARK: Determinism

  static func deterministicCases() -> [(String, AttentionCase)] {
    let gqa = AttentionShape(
      batch: 2, queryHeads: 4, kvHeads: 2, queryLength: 150, keyLength: 170, headDim: 32)
    var window = AttentionProblem(
      shape: gqa, mask: .slidingWindow(left: 50),
      modifiers: ScoreModifiers(
        softcap: 20, alibiSlopes: [0.5, 0.25, 0.125, 0.0625], sinks: [1, 2, 3, 4]))
    window = withTypes(window, q: .float32, k: .float16, v: .bfloat16, o: .float16)
    let sparse = AttentionProblem(
      shape: gqa, mask: .causal,
      blockSparse: BlockSparseTests.perHeadMask(blockSize: 30, sq: 150, skv: 170, heads: 4))
    let ragged = RaggedTests.packed(
      queryOffsets: [0, 90, 91, 300], keyOffsets: [0, 100, 140, 400], mask: .causalTopLeft,
      modifiers: ScoreModifiers(alibiSlopes: [0.1, 0.2, 0.3, 0.4]))
    var biased = AttentionProblem(shape: gqa, mask: .causal)
    biased.bias = .shared(shape: gqa)
    return [
      ("window+modifiers+mixed types", AttentionCase(window, seed: 71).roundedToStorage),
      ("block-sparse per head", AttentionCase(sparse, seed: 72)),
      ("ragged+ALiBi", AttentionCase(ragged, seed: 73)),
      ("bias", AttentionCase(biased, seed: 74)),
    ]
  }

  @Test func bitwiseIdenticalAcrossThreadCounts() throws {
    for (name, c) in Self.deterministicCases() {
      let bias: [Float]? =
        c.problem.bias == nil
        ? nil
        : (0..<(try c.problem.validate().bias)).map { Float($0 % 13) * 0.1 }
      let one = try runRaw(c, bias: bias, options: AttentionOptions(threads: 1))
      for threads in [2, 3] {
        let other = try runRaw(c, bias: bias, options: AttentionOptions(threads: threads))
        #expect(bitwiseEqual(one.output, other.output), "\(name) O, \(threads) threads")
        #expect(bitwiseEqual(one.lse, other.lse), "\(name) LSE, \(threads) threads")
      }
    }
  }
}
