import Tessera
import Testing

/// How many workers a decode call gets from the runtime's default minimum work per worker:
/// decode counts its keys at their measured cost (decode FLOPs at ~1.4× a prefill FLOP's time,
/// a key at least its bytes, ~2.6 µs per item), so a short-context call of ~200 µs uses both
/// CPUs while a tiny one stays on the caller.
@Suite struct DecodeWorkersTests {
  static func workers(lengths: [Int], queryHeads: Int, kvHeads: Int, headDim: Int) throws -> Int {
    let f = DecodeFixture(
      lengths: lengths, kvHeads: kvHeads, headDim: headDim, type: .float16, seed: 77)
    let cache = try f.contiguous()
    let runtime = Runtime(topology: Topology(nodes: [.init(id: 0, cpus: [0, 1])]))
    let recorder = TraceRecorder()
    runtime.trace = recorder
    var rng = DecodeRandom(seed: 78)
    let problem = DecodeProblem(batch: lengths.count, queryHeads: queryHeads, queryType: .float16)
    _ = try runDecode(
      problem, queries: rng.floats(lengths.count * queryHeads * headDim), cache: cache,
      options: DecodeOptions(threads: 2, runtime: runtime))
    runtime.trace = nil
    return try #require(recorder.calls.first).workers
  }

  /// B=4, 32 query / 8 kv heads, D=128, 128 cached tokens: 8.4 MFLOPs, ~210 µs on one core.
  @Test func shortContextGQAUsesBothWorkers() throws {
    #expect(
      try Self.workers(lengths: [128, 128, 128, 128], queryHeads: 32, kvHeads: 8, headDim: 128) == 2
    )
  }

  /// MHA, B=1, 32 heads, D=128, 512 tokens: 1-row groups, bound by the bytes they read.
  @Test func shortContextMHAUsesBothWorkers() throws {
    #expect(try Self.workers(lengths: [512], queryHeads: 32, kvHeads: 32, headDim: 128) == 2)
  }

  /// One sequence, 4 query heads on 1 kv head, 64 tokens: a few µs, not worth a second worker.
  @Test func tinyCallStaysOnOneWorker() throws {
    #expect(try Self.workers(lengths: [64], queryHeads: 4, kvHeads: 1, headDim: 64) == 1)
  }
}
