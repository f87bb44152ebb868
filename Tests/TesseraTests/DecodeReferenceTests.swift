import Tessera
import Testing

/// Decode against the Double reference, run on each sequence's exact cache contents with the
/// same mask (causal bottom-right by default: new token t sees keys ≤ length − Sq + t).
@Suite struct DecodeReferenceTests {
  struct Case: CustomStringConvertible, Sendable {
    var name: String
    var lengths: [Int]
    var queryHeads: Int
    var kvHeads: Int
    var headDim: Int
    var valueDim: Int? = nil
    var queryLength: Int = 1
    var type: ScalarType = .float32
    var queryType: ScalarType = .float32
    var mask: AttentionMask = .causal
    var modifiers: ScoreModifiers = .none
    var paged: Int? = nil  // block size
    var splitSize: Int = 64
    var sequences: [Int]? = nil

    var description: String { name }
  }

  static let cases: [Case] = [
    Case(
      name: "MHA f32 contiguous", lengths: [100, 37, 1], queryHeads: 4, kvHeads: 4, headDim: 32),
    Case(
      name: "GQA4 f16 contiguous Sq3", lengths: [130, 65], queryHeads: 8, kvHeads: 2, headDim: 64,
      queryLength: 3, type: .float16, queryType: .float16),
    Case(
      name: "GQA8 bf16 contiguous", lengths: [200, 7], queryHeads: 8, kvHeads: 1, headDim: 40,
      type: .bfloat16, queryType: .bfloat16),
    Case(
      name: "MQA f32 paged Sq3", lengths: [77, 150], queryHeads: 6, kvHeads: 1, headDim: 24,
      queryLength: 3, paged: 16),
    Case(
      name: "GQA4 f16 paged", lengths: [129, 300, 5], queryHeads: 8, kvHeads: 2, headDim: 128,
      type: .float16, paged: 16, splitSize: 128),
    Case(
      name: "GQA4 bf16 paged odd dims, f32 queries", lengths: [50, 81], queryHeads: 4, kvHeads: 1,
      headDim: 19, valueDim: 11, type: .bfloat16, paged: 5, splitSize: 32),
    Case(
      name: "f32 paged block 7 D=128 split 40", lengths: [95, 200], queryHeads: 2, kvHeads: 2,
      headDim: 128, paged: 7, splitSize: 40),
    Case(
      name: "window + softcap + ALiBi + sinks, GQA4 Sq3", lengths: [140, 20, 3], queryHeads: 8,
      kvHeads: 2, headDim: 32,
      queryLength: 3, type: .float16, mask: .slidingWindow(left: 50),
      modifiers: ScoreModifiers(
        softcap: 5, alibiSlopes: ScoreModifiers.standardAlibiSlopes(heads: 8),
        sinks: [0.5, -1, 2, 0, 1, -3, 0.1, 4]),
      paged: 16),
    Case(
      name: "window + softcap + ALiBi + sinks contiguous bf16", lengths: [90, 64], queryHeads: 4,
      kvHeads: 4, headDim: 16,
      type: .bfloat16, mask: .slidingWindow(left: 9),
      modifiers: ScoreModifiers(softcap: 3, alibiSlopes: [0.5, 0.25, 0.1, 1], sinks: [1, 1, 1, 1])),
    Case(
      name: "empty and shorter-than-Sq sequences, sinks", lengths: [0, 2, 40], queryHeads: 2,
      kvHeads: 1, headDim: 8,
      queryLength: 4, modifiers: ScoreModifiers(sinks: [0.5, -0.5]), paged: 4),
    Case(
      name: "no mask, batch picks sequences", lengths: [33, 70, 12], queryHeads: 4, kvHeads: 2,
      headDim: 16,
      queryLength: 2, mask: .none, splitSize: 16, sequences: [2, 0, 2]),
    Case(
      name: "f16 output from f32 queries, split 1024 default", lengths: [2100], queryHeads: 4,
      kvHeads: 2, headDim: 64,
      type: .float16, splitSize: 1024),
  ]

  @Test(arguments: 0..<cases.count)
  func matchesReference(index: Int) throws {
    let c = Self.cases[index]
    let f = DecodeFixture(
      lengths: c.lengths, kvHeads: c.kvHeads, headDim: c.headDim, valueDim: c.valueDim,
      type: c.type, seed: UInt64(100 + index))
    let cache: KVCache =
      try c.paged.map { try f.paged(blockSize: $0) }
      ?? f.contiguous(capacity: (c.lengths.max() ?? 1) + 3)
    let batch = c.sequences?.count ?? c.lengths.count
    var outputType = c.queryType
    if index == Self.cases.count - 1 { outputType = .float16 }
    let problem = DecodeProblem(
      batch: batch, queryHeads: c.queryHeads, queryLength: c.queryLength, sequences: c.sequences,
      mask: c.mask, modifiers: c.modifiers, queryType: c.queryType, outputType: outputType)
    var rng = DecodeRandom(seed: UInt64(900 + index))
    let q = rng.floats(batch * c.queryLength * c.queryHeads * c.headDim)
    let cmp = try compareDecode(
      problem, queries: q, cache: cache, fixture: f,
      options: DecodeOptions(threads: 2, splitSize: c.splitSize, runtime: decodeRuntime(cpus: 2)))
    #expect(cmp.mismatches == 0, "\(c): \(cmp)")
    #expect(cmp.outputError <= decodeOutputTolerance(outputType), "\(c): \(cmp)")
    #expect(cmp.lseError <= 2e-5, "\(c): \(cmp)")
  }

  /// The array API (Float32 in and out) agrees with the raw one.
  @Test func arrayAPI() throws {
    let f = DecodeFixture(lengths: [40, 41], kvHeads: 2, headDim: 16, type: .float32, seed: 5)
    let cache = try f.contiguous()
    let problem = DecodeProblem(batch: 2, queryHeads: 4)
    var rng = DecodeRandom(seed: 6)
    let q = rng.floats(2 * 4 * 16)
    let options = DecodeOptions(threads: 1, splitSize: 16)
    let viaArrays = try Decode.forward(problem, queries: q, cache: cache, options: options)
    let raw = try runDecode(problem, queries: q, cache: cache, options: options)
    #expect(decodeBitwiseEqual(viaArrays.lse, raw.lse))
    #expect(decodeEncode(viaArrays.output, as: .float32) == raw.output)
  }

  @Test func errors() throws {
    let cache = try ContiguousKVCache(sequences: 2, capacity: 8, kvHeads: 2, headDim: 8)
    let q = [Float](repeating: 0, count: 2 * 4 * 8)
    #expect(throws: DecodeError.attention(.headsNotDivisible(queryHeads: 3, kvHeads: 2))) {
      _ = try Decode.forward(DecodeProblem(batch: 1, queryHeads: 3), queries: q, cache: cache)
    }
    #expect(throws: DecodeError.cache(.invalidSequence(5, sequenceCount: 2))) {
      _ = try Decode.forward(
        DecodeProblem(batch: 1, queryHeads: 4, sequences: [5]), queries: q, cache: cache)
    }
    #expect(throws: DecodeError.attention(.bufferTooSmall(tensor: "Q", required: 64, actual: 10))) {
      _ = try Decode.forward(
        DecodeProblem(batch: 2, queryHeads: 4), queries: Array(q.prefix(10)), cache: cache)
    }
    #expect(throws: DecodeError.attention(.nonPositiveSize(field: "splitSize", value: 0))) {
      _ = try Decode.forward(
        DecodeProblem(batch: 2, queryHeads: 4), queries: q, cache: cache,
        options: DecodeOptions(splitSize: 0))
    }
    #expect(throws: DecodeError.self) {
      _ = try Decode.forward(
        DecodeProblem(batch: 2, queryHeads: 4, modifiers: ScoreModifiers(sinks: [1])), queries: q,
        cache: cache)
    }
  }
}
