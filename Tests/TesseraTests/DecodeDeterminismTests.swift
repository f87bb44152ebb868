import Tessera
import Testing

/// The determinism contract of decode: bitwise identical O and LSE for 1, 2 and 3 threads (and a
/// fake two-node topology, both executors), and for a paged and a contiguous cache holding the
/// same tokens.
@Suite struct DecodeDeterminismTests {
  static let setups: [(ScalarType, Int, Int, Int, AttentionMask, ScoreModifiers)] = [
    // type, queryHeads, kvHeads, Sq, mask, modifiers
    (.float16, 8, 2, 1, .causal, .none),
    (
      .float32, 4, 1, 3, .slidingWindow(left: 100),
      ScoreModifiers(softcap: 4, alibiSlopes: [0.1, 0.2, 0.3, 0.4], sinks: [0, 1, 2, 3])
    ),
    (.bfloat16, 4, 4, 2, .causal, .none),
    // BFloat16 with 4-row groups: the in-register path, and widened tiles where a paged tile
    // crosses a block.
    (.bfloat16, 8, 2, 1, .causal, .none),
  ]

  @Test(arguments: 0..<setups.count)
  func threadsAndCacheKinds(index: Int) throws {
    let (type, hq, hkv, sq, mask, modifiers) = Self.setups[index]
    let f = DecodeFixture(
      lengths: [700, 129, 1000], kvHeads: hkv, headDim: 64, type: type, seed: UInt64(20 + index))
    let contiguous = try f.contiguous(capacity: 1024)
    let paged = try f.paged(blockSize: 16)
    let problem = DecodeProblem(
      batch: 3, queryHeads: hq, queryLength: sq, mask: mask, modifiers: modifiers, queryType: type)
    var rng = DecodeRandom(seed: UInt64(40 + index))
    let q = rng.floats(3 * sq * hq * 64)
    let baseline = try runDecode(
      problem, queries: q, cache: contiguous,
      options: DecodeOptions(threads: 1, splitSize: 128, runtime: decodeRuntime(cpus: 1)))
    #expect(baseline.lse.allSatisfy { $0.isFinite })
    for nodes in [1, 2] {
      let runtime = decodeRuntime(cpus: 3, nodes: nodes)
      for executor in ExecutorKind.allCases {
        for threads in 1...3 {
          let options = DecodeOptions(
            threads: threads, splitSize: 128, executor: executor, runtime: runtime)
          for (name, cache) in [("contiguous", contiguous as KVCache), ("paged", paged)] {
            let got = try runDecode(problem, queries: q, cache: cache, options: options)
            #expect(
              got.output == baseline.output && decodeBitwiseEqual(got.lse, baseline.lse),
              "\(type) \(name) nodes=\(nodes) \(executor) threads=\(threads)")
          }
        }
      }
    }
  }

  /// A 16-bit tile across paged blocks is read in place run by run (`DecodeKernel.runsTile`):
  /// blocks that split tiles anywhere (5, 12, 16, 24 rows) and a sliding window (tiles that
  /// start inside a block) must give the contiguous cache's bits, with 4-row groups and with
  /// 1-row groups (MHA, in place only when the runs start at multiples of 8 keys).
  @Test(arguments: [5, 12, 16, 24])
  func pagedTilesAcrossBlocks(blockSize: Int) throws {
    let cases: [(Int, Int, AttentionMask)] = [
      (8, 2, .slidingWindow(left: 300)), (8, 2, .causal), (4, 4, .causal),
      (4, 4, .slidingWindow(left: 300)),
    ]
    for (index, (hq, hkv, mask)) in cases.enumerated() {
      let f = DecodeFixture(
        lengths: [700, 129, 1000], kvHeads: hkv, headDim: 64, type: .float16,
        seed: UInt64(90 + blockSize + index))
      let contiguous = try f.contiguous(capacity: 1024)
      let paged = try f.paged(blockSize: blockSize)
      let problem = DecodeProblem(
        batch: 3, queryHeads: hq, queryLength: 1, mask: mask, queryType: .float16)
      var rng = DecodeRandom(seed: UInt64(91 + index))
      let q = rng.floats(3 * hq * 64)
      let options = DecodeOptions(threads: 2, splitSize: 128, runtime: decodeRuntime(cpus: 2))
      let a = try runDecode(problem, queries: q, cache: contiguous, options: options)
      let b = try runDecode(problem, queries: q, cache: paged, options: options)
      #expect(a.lse.allSatisfy { $0.isFinite })
      #expect(
        a.output == b.output && decodeBitwiseEqual(a.lse, b.lse),
        "block \(blockSize), \(hq)/\(hkv) heads, \(mask)")
    }
  }

  /// A different split size changes the rounding but not the answer (and still matches the
  /// reference): the split is a property of the call.
  @Test func splitSizeChangesOnlyRounding() throws {
    let f = DecodeFixture(lengths: [3000], kvHeads: 1, headDim: 32, type: .float32, seed: 61)
    let cache = try f.contiguous()
    let problem = DecodeProblem(batch: 1, queryHeads: 4)
    var rng = DecodeRandom(seed: 62)
    let q = rng.floats(4 * 32)
    for split in [1, 31, 1024, 4096] {
      let cmp = try compareDecode(
        problem, queries: q, cache: cache, fixture: f,
        options: DecodeOptions(threads: 2, splitSize: split, runtime: decodeRuntime(cpus: 2)))
      #expect(
        cmp.outputError <= 4e-6 && cmp.lseError <= 2e-5 && cmp.mismatches == 0,
        "split \(split): \(cmp)")
    }
  }
}
