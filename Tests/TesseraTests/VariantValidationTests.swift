import Tessera
import Testing

/// Invalid variant parameters throw their specific `AttentionError`, through `validate()` and
/// through the buffer API, and nothing traps: negative windows, non-finite or non-positive
/// softcaps, wrong counts or non-finite ALiBi slopes and sinks, block-sparse masks built for
/// another shape, and sequences longer than the kernel's Int32 key positions.
@Suite struct VariantValidationTests {
  static let shape = AttentionShape(
    queryHeads: 4, kvHeads: 2, queryLength: 10, keyLength: 12, headDim: 8)

  /// Expects `p` to be refused with `expected` both by `validate()` and by a raw-buffer call
  /// (whose buffers are sized for the valid base problem).
  static func expectRefused(
    _ p: AttentionProblem, _ expected: AttentionError, mentioning words: [String],
    sourceLocation: SourceLocation = #_sourceLocation
  ) {
    ValidationTests.expectError(expected, mentioning: words, sourceLocation: sourceLocation) {
      () throws(AttentionError) in try p.validate()
    }
    let base = AttentionCase(AttentionProblem(shape: shape), seed: 1)
    let broken = AttentionCase(p, q: base.q, k: base.k, v: base.v)
    ValidationTests.expectError(expected, mentioning: words, sourceLocation: sourceLocation) {
      () throws(AttentionError) in _ = try runRaw(broken)
    }
  }

  @Test(arguments: [-1, -5, Int.min])
  func negativeWindows(value: Int) {
    Self.expectRefused(
      AttentionProblem(shape: Self.shape, mask: .slidingWindow(left: value)),
      .invalidWindow(side: "left", value: value), mentioning: ["left", "\(value)"])
    Self.expectRefused(
      AttentionProblem(shape: Self.shape, mask: AttentionMask(causal: false, windowRight: value)),
      .invalidWindow(side: "right", value: value), mentioning: ["right", "\(value)"])
    Self.expectRefused(
      AttentionProblem(
        shape: Self.shape, mask: AttentionMask(causal: false, windowLeft: value, windowRight: 3)),
      .invalidWindow(side: "left", value: value), mentioning: ["left"])
  }

  @Test func zeroWindowsAreValid() throws {
    try AttentionProblem(shape: Self.shape, mask: .slidingWindow(left: 0)).validate()
    try AttentionProblem(
      shape: Self.shape, mask: AttentionMask(causal: false, windowLeft: 0, windowRight: 0)
    ).validate()
  }

  static func isInvalidModifier(_ e: AttentionError, name: String) -> Bool {
    if case .invalidModifier(let n, _) = e { return n == name }
    return false
  }

  static func expectModifierRefused(
    _ modifiers: ScoreModifiers, name: String, mentioning words: [String],
    sourceLocation: SourceLocation = #_sourceLocation
  ) {
    let p = AttentionProblem(shape: shape, modifiers: modifiers)
    do {
      try p.validate()
      Issue.record("expected invalidModifier(\(name))", sourceLocation: sourceLocation)
    } catch {
      #expect(Self.isInvalidModifier(error, name: name), "\(error)", sourceLocation: sourceLocation)
      for w in [name] + words {
        #expect(
          error.description.contains(w), "\"\(error)\" should mention \(w)",
          sourceLocation: sourceLocation)
      }
    }
    let base = AttentionCase(AttentionProblem(shape: shape), seed: 2)
    #expect(throws: AttentionError.self, sourceLocation: sourceLocation) {
      _ = try runRaw(AttentionCase(p, q: base.q, k: base.k, v: base.v))
    }
  }

  @Test(arguments: [Float(0), -0.0, -1, .nan, .infinity, -.infinity, .signalingNaN])
  func invalidSoftcap(cap: Float) {
    Self.expectModifierRefused(
      ScoreModifiers(softcap: cap), name: "softcap", mentioning: ["positive"])
  }

  @Test func tinyAndHugeSoftcapsAreValid() throws {
    for cap in [Float.leastNonzeroMagnitude, 1e-3, 1e30, .greatestFiniteMagnitude] {
      try AttentionProblem(shape: Self.shape, modifiers: ScoreModifiers(softcap: cap)).validate()
    }
  }

  @Test(arguments: [0, 1, 2, 3, 5, 8])
  func wrongModifierCounts(count: Int) {
    let values = [Float](repeating: 0.5, count: count)
    // One per query head (4), not per kv head (2).
    Self.expectModifierRefused(
      ScoreModifiers(alibiSlopes: values), name: "alibiSlopes", mentioning: ["(4)", "got \(count)"])
    Self.expectModifierRefused(
      ScoreModifiers(sinks: values), name: "sinks", mentioning: ["(4)", "got \(count)"])
  }

  @Test(arguments: [Float.nan, .infinity, -.infinity])
  func nonFiniteSlopesAndSinks(value: Float) {
    Self.expectModifierRefused(
      ScoreModifiers(alibiSlopes: [0.5, 0.25, value, 0.125]), name: "alibiSlopes",
      mentioning: ["value 2"])
    Self.expectModifierRefused(
      ScoreModifiers(sinks: [value, 0, 0, 0]), name: "sinks", mentioning: ["value 0"])
  }

  @Test func blockSparseMaskForAnotherShape() {
    let s = Self.shape  // Sq 10, Skv 12
    func sparse(_ m: BlockSparseMask) -> AttentionProblem {
      AttentionProblem(shape: s, blockSparse: m)
    }
    // Built for Sq = 20: 5 query blocks of 4 instead of 3.
    Self.expectRefused(
      sparse(.strided(blockSize: 4, queryLength: 20, keyLength: 12, stride: 2)),
      .shapeMismatch(tensor: "blockSparse", axis: "queryBlocks", expected: 3, actual: 5),
      mentioning: ["blockSparse", "queryBlocks"])
    // Built for Skv = 4: 1 key block instead of 3.
    Self.expectRefused(
      sparse(.strided(blockSize: 4, queryLength: 10, keyLength: 4, stride: 2)),
      .shapeMismatch(tensor: "blockSparse", axis: "keyBlocks", expected: 3, actual: 1),
      mentioning: ["keyBlocks"])
    // Per kv head (2) instead of per query head (4) or shared (1).
    Self.expectRefused(
      sparse(
        BlockSparseMask(blockSize: 4, queryLength: 10, keyLength: 12, heads: 2) { _, _, _ in true }),
      .shapeMismatch(
        tensor: "blockSparse", axis: "heads (1 or queryHeads)", expected: 4, actual: 2),
      mentioning: ["heads"])
    // Built for Sq = 12 with blocks of 5: 3 query blocks where Sq = 10 has 2.
    Self.expectRefused(
      sparse(.strided(blockSize: 5, queryLength: 12, keyLength: 12, stride: 2)),
      .shapeMismatch(tensor: "blockSparse", axis: "queryBlocks", expected: 2, actual: 3),
      mentioning: ["queryBlocks"])
  }

  /// Key positions are Int32 in the kernel's mask: longer sequences are refused with a typed
  /// error (checked through `validate` with byte counts, since no buffer that big exists).
  @Test func sequenceTooLong() {
    let long = Int(Int32.max) + 1
    for shape in [
      AttentionShape(queryHeads: 1, queryLength: 1, keyLength: long, headDim: 1),
      AttentionShape(queryHeads: 1, queryLength: long, keyLength: 1, headDim: 1),
    ] {
      ValidationTests.expectError(
        .sequenceTooLong(length: long, maximum: Int(Int32.max)), mentioning: ["\(long)"]
      ) { () throws(AttentionError) in
        try Attention.validate(
          AttentionProblem(shape: shape), qBytes: .max, kBytes: .max, vBytes: .max,
          outputBytes: .max, lse: .max, options: AttentionOptions(threads: 1))
      }
    }
    // Exactly Int32.max is still addressable.
    let edge = AttentionShape(queryHeads: 1, queryLength: 1, keyLength: Int(Int32.max), headDim: 1)
    #expect(throws: Never.self) {
      try Attention.validate(
        AttentionProblem(shape: edge), qBytes: .max, kBytes: .max, vBytes: .max,
        outputBytes: .max, lse: .max, options: AttentionOptions(threads: 1))
    }
  }

  /// The errors describe what was wrong and what was expected.
  @Test func descriptions() {
    #expect(
      AttentionError.invalidWindow(side: "left", value: -3).description
        == "window left must be non-negative, got -3")
    #expect(AttentionError.invalidRagged(detail: "x").description.contains("ragged"))
    #expect(AttentionError.unsupportedCombination("a with b").description.contains("a with b"))
    #expect(AttentionError.invalidModifier(name: "sinks", detail: "d").description == "sinks: d")
  }
}
