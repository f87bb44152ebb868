import Tessera
import Testing

/// Ragged batches (FlashAttention's cu_seqlens): sequences of different lengths packed into
/// batch-1 tensors. Each sequence must give bitwise the same O and LSE as the sequence alone
/// (same tiles, same thread count), and the whole call must match the Double reference; empty
/// sequences, Sq ≠ Skv per sequence and both causal alignments included.
@Suite struct RaggedTests {
  /// Runs `ragged` (a packed BSHD problem) and every sequence alone as a batch-1 problem with
  /// the same mask, modifiers and types; expects bitwise equality row by row, and checks rows of
  /// sequences without keys (O = 0, LSE = −∞ or the sink).
  static func expectEachSequenceEqualsAlone(
    _ c: AttentionCase, options: AttentionOptions = AttentionOptions(threads: 2),
    sourceLocation: SourceLocation = #_sourceLocation
  ) throws {
    let p = c.problem
    let r = p.ragged!
    let s = p.shape
    let packed = try runRaw(c, options: options)
    let (hq, hkv, d, dv) = (s.queryHeads, s.kvHeads, s.headDim, s.valueDim)
    for seq in 0..<r.sequences {
      let (q0, q1) = (r.queryOffsets[seq], r.queryOffsets[seq + 1])
      let (k0, k1) = (r.keyOffsets[seq], r.keyOffsets[seq + 1])
      let (sq, sk) = (q1 - q0, k1 - k0)
      if sq == 0 { continue }
      if sk == 0 {
        for h in 0..<hq {
          for i in q0..<q1 {
            let lse = packed.lse[h * s.queryLength + i]
            let expected = p.modifiers.sinks.map { $0[h] } ?? -.infinity
            #expect(
              lse == expected || abs(lse - expected) <= 1e-6, "seq \(seq) h\(h) row \(i)",
              sourceLocation: sourceLocation)
            #expect(
              (0..<dv).allSatisfy { packed.output[(i * hq + h) * dv + $0] == 0 },
              sourceLocation: sourceLocation)
          }
        }
        continue
      }
      var alone = p
      alone.ragged = nil
      alone.shape = AttentionShape(
        queryHeads: hq, kvHeads: hkv, queryLength: sq, keyLength: sk, headDim: d, valueDim: dv)
      for (descriptor, length, heads, dim) in [
        (\AttentionProblem.query, sq, hq, d), (\.key, sk, hkv, d), (\.value, sk, hkv, dv),
        (\.output, sq, hq, dv),
      ] {
        alone[keyPath: descriptor].layout = .bshd(sequence: length, heads: heads, dim: dim)
      }
      let single = AttentionCase(
        alone, q: Array(c.q[q0 * hq * d..<q1 * hq * d]), k: Array(c.k[k0 * hkv * d..<k1 * hkv * d]),
        v: Array(c.v[k0 * hkv * dv..<k1 * hkv * dv]))
      let out = try runRaw(single, options: options)
      let packedRows = Array(packed.output[q0 * hq * dv..<q1 * hq * dv])
      #expect(bitwiseEqual(packedRows, out.output), "seq \(seq) O", sourceLocation: sourceLocation)
      for h in 0..<hq {
        let a = Array(packed.lse[h * s.queryLength + q0..<h * s.queryLength + q1])
        let b = Array(out.lse[h * sq..<(h + 1) * sq])
        #expect(bitwiseEqual(a, b), "seq \(seq) h\(h) LSE", sourceLocation: sourceLocation)
      }
    }
  }

  static func packed(
    queryOffsets: [Int], keyOffsets: [Int], heads: Int = 4, kvHeads: Int = 2, d: Int = 24,
    dv: Int = 16, mask: AttentionMask, modifiers: ScoreModifiers = .none
  ) -> AttentionProblem {
    let shape = AttentionShape(
      queryHeads: heads, kvHeads: kvHeads, queryLength: queryOffsets.last!,
      keyLength: keyOffsets.last!, headDim: d, valueDim: dv)
    var p = AttentionProblem(shape: shape, mask: mask, modifiers: modifiers)
    p.ragged = RaggedBatch(queryOffsets: queryOffsets, keyOffsets: keyOffsets)
    return p
  }

  static let masks: [AttentionMask] = [.none, .causal, .causalTopLeft]

  /// Self-attention over lengths that include 0, 1, a tile multiple and odd lengths.
  @Test(arguments: masks)
  func selfAttentionLengths(mask: AttentionMask) throws {
    let r = RaggedBatch(lengths: [5, 0, 97, 1, 130, 24])
    #expect(r.queryOffsets == [0, 5, 5, 102, 103, 233, 257])
    #expect(r.sequences == 6)
    let p = Self.packed(queryOffsets: r.queryOffsets, keyOffsets: r.keyOffsets, mask: mask)
    let c = AttentionCase(p, seed: 51)
    let cmp = try compareWithReference(c)
    #expect(cmp.isWithin() && cmp.maskedRows == 0, "\(mask): \(cmp)")
    try Self.expectEachSequenceEqualsAlone(c)
  }

  /// Sq ≠ Skv per sequence (chunked prefill against different cache lengths), including a
  /// sequence with queries but no keys and one with keys but no queries; causal bottom-right
  /// leaves rows of Sq > Skv sequences without a key.
  @Test(arguments: masks)
  func differentQueryAndKeyLengths(mask: AttentionMask) throws {
    let q = [0, 3, 3, 103, 110, 170, 171]
    let k = [0, 50, 60, 60, 200, 230, 231]
    let p = Self.packed(queryOffsets: q, keyOffsets: k, mask: mask)
    let c = AttentionCase(p, seed: 52)
    let cmp = try compareWithReference(c)
    #expect(cmp.isWithin(), "\(mask): \(cmp)")
    // Sequence 2 (100 queries, 0 keys) is empty everywhere; sequence 4 (60 queries, 30 keys)
    // has 30 keyless rows under bottom-right causal.
    let expectedEmpty = (100 + (mask == .causal ? 30 : 0)) * 4
    #expect(cmp.maskedRows == expectedEmpty, "\(mask)")
    try Self.expectEachSequenceEqualsAlone(c)
    // The FLOP count sums the sequences.
    var pairs = 0
    for s in 0..<6 {
      let (sq, sk) = (q[s + 1] - q[s], k[s + 1] - k[s])
      for i in 0..<sq { pairs += mask.visibleKeys(query: i, queryLength: sq, keyLength: sk).count }
    }
    #expect(p.visiblePairs == pairs * 4)
  }

  /// Masks, ALiBi positions and sinks are per sequence; with windows, softcap, ALiBi, sinks and
  /// Float16 K/V (Float32 Q and O).
  @Test(arguments: [
    AttentionMask.slidingWindow(left: 20), .slidingWindow(left: 9, alignment: .topLeft),
  ])
  func withModifiersAndNarrowStorage(mask: AttentionMask) throws {
    let modifiers = ScoreModifiers(
      softcap: 8, alibiSlopes: ScoreModifiers.standardAlibiSlopes(heads: 4),
      sinks: [0.5, -1, 2, 0])
    var p = Self.packed(
      queryOffsets: [0, 40, 41, 141, 141], keyOffsets: [0, 60, 61, 161, 170], mask: mask,
      modifiers: modifiers)
    p = withTypes(p, q: .float32, k: .float16, v: .float16, o: .float32)
    let c = AttentionCase(p, seed: 53, amplitude: 2).roundedToStorage
    try expectMatchesReferenceRounded(c, "\(p)")
    try Self.expectEachSequenceEqualsAlone(c)
  }

  /// A single sequence is the plain batch-1 problem.
  @Test func singleSequenceEqualsDense() throws {
    let dense = AttentionCase(
      AttentionProblem(
        shape: AttentionShape(queryHeads: 2, queryLength: 77, keyLength: 90, headDim: 16),
        mask: .causal), seed: 54)
    var ragged = dense
    ragged.problem.ragged = RaggedBatch(queryOffsets: [0, 77], keyOffsets: [0, 90])
    #expect(try runRaw(dense) == runRaw(ragged))
  }

  // MARK: Errors

  static func expectInvalid(
    _ q: [Int], _ k: [Int], queryLength: Int = 10, keyLength: Int = 12, batch: Int = 1,
    sourceLocation: SourceLocation = #_sourceLocation, _ check: (AttentionError) -> Bool
  ) {
    var p = AttentionProblem(
      shape: AttentionShape(
        batch: batch, queryHeads: 2, queryLength: queryLength, keyLength: keyLength, headDim: 8))
    p.ragged = RaggedBatch(queryOffsets: q, keyOffsets: k)
    do {
      try p.validate()
      Issue.record("expected an error for \(q) / \(k)", sourceLocation: sourceLocation)
    } catch {
      #expect(check(error), "\(q) / \(k): \(error)", sourceLocation: sourceLocation)
      #expect(error.description.contains("ragged"), sourceLocation: sourceLocation)
    }
  }

  static func isInvalidRagged(_ e: AttentionError, mentioning word: String) -> Bool {
    if case .invalidRagged(let detail) = e { return detail.contains(word) }
    return false
  }

  @Test func invalidOffsets() {
    Self.expectInvalid([0, 4, 10], [0, 12]) { Self.isInvalidRagged($0, mentioning: "offsets") }
    Self.expectInvalid([0], [0]) { Self.isInvalidRagged($0, mentioning: "offsets") }
    Self.expectInvalid([], []) { Self.isInvalidRagged($0, mentioning: "offsets") }
    Self.expectInvalid([1, 10], [0, 12]) { Self.isInvalidRagged($0, mentioning: "queryOffsets") }
    Self.expectInvalid([0, 10], [2, 12]) { Self.isInvalidRagged($0, mentioning: "keyOffsets") }
    Self.expectInvalid([0, 6, 4, 10], [0, 1, 2, 12]) {
      Self.isInvalidRagged($0, mentioning: "decreases")
    }
    Self.expectInvalid([0, 4, 9], [0, 5, 12]) { Self.isInvalidRagged($0, mentioning: "10") }
    Self.expectInvalid([0, 4, 10], [0, 5, 13]) { Self.isInvalidRagged($0, mentioning: "12") }
    // Packed tensors have batch 1.
    Self.expectInvalid([0, 4, 10], [0, 5, 12], batch: 2) {
      $0 == .shapeMismatch(tensor: "ragged", axis: "batch (packed tensors)", expected: 1, actual: 2)
    }
  }

  @Test func raggedWithBiasOrBlockSparseIsRefused() {
    let shape = AttentionShape(queryHeads: 2, queryLength: 10, keyLength: 12, headDim: 8)
    var p = AttentionProblem(shape: shape)
    p.ragged = RaggedBatch(queryOffsets: [0, 4, 10], keyOffsets: [0, 5, 12])
    var biased = p
    biased.bias = .shared(shape: shape)
    var sparse = p
    sparse.blockSparse = .strided(blockSize: 4, queryLength: 10, keyLength: 12, stride: 2)
    for q in [biased, sparse] {
      do {
        try q.validate()
        Issue.record("expected unsupportedCombination")
      } catch {
        guard case .unsupportedCombination(let detail) = error else {
          Issue.record("expected unsupportedCombination, got \(error)")
          continue
        }
        #expect(detail.contains("ragged"))
      }
    }
  }
}
