// Decode (new query tokens against a filled KV cache), fp16: the bandwidth-bound half of
// Tessera's work, kept apart from the prefill suite (DESIGN.md, "Measuring").
//
// Shape: B = 4 sequences, 32 query heads over 8 kv heads (GQA), D = 128, one new token per
// sequence (Sq = 1), causal, fp16 cache, queries and output, default split size. Caches:
// `ContiguousKVCache` and `PagedKVCache` (16-token blocks, filled round-robin one block per
// sequence at a time, as `tessera decode --paged` does, so each sequence's blocks are
// scattered through the pool). Cache lengths 4096 and 32768 tokens per sequence:
//
//   Skv     cache size (K + V, all sequences)   read per call
//   4096    64 MiB                              67 MB
//   32768   512 MiB                             537 MB
//
// The cache is filled once in the benchmark's setup (outside the measurement) and released in
// its teardown, so one suite run never holds more than one cache.
//
// Each benchmark reports wall clock, throughput, CPU time, mallocs and peak resident memory,
// plus the custom metric `cache read MB/s` = `Decode.cacheBytesRead` / time of one call (each
// visible cached K/V row counted once per kv head), computed from the same timed calls (MB/s
// rather than GB/s because measurements are integers).
//
// Names are "decode_fp16_<contiguous|paged>_Skv=<S>_threads=<1|all>", with no spaces and no
// tags: `thresholds update` names each file after the benchmark with spaces turned into
// underscores, but `thresholds check` looks the file up by the raw name, and it filters on the
// name with the tags appended, so either would make the check find nothing. `--filter` takes a
// regex that must match the WHOLE name: ".*Skv=4096_.*", ".*_threads=1", "decode_fp16_paged_.*".
// The suite also holds the paged allocator's benchmark (PagedAllocatorBenchmark.swift).

import Benchmark
import Foundation
import Tessera

let benchmarks: @Sendable () -> Void = {
  let allThreads = ProcessInfo.processInfo.activeProcessorCount
  var threadCounts: [(label: String, count: Int)] = [("1", 1)]
  if allThreads > 1 { threadCounts.append(("all", allThreads)) }

  for paged in [false, true] {
    for kvLength in [4096, 32768] {
      for (label, threads) in threadCounts {
        registerDecode(paged: paged, kvLength: kvLength, threadLabel: label, threads: threads)
      }
    }
  }
  registerPagedAppend()
}

/// The fixed part of the shape (see the header).
enum DecodeShape {
  static let batch = 4
  static let queryHeads = 32
  static let kvHeads = 8
  static let headDim = 128
  static let blockSize = 16
  static let type = ScalarType.float16
}

enum DecodeMetric {
  /// Cache read bandwidth in MB/s, not GB/s: measurements are integers, and one core reads 5–6
  /// GB/s here, so GB/s would move in steps of 15–20 %, coarser than the tolerances.
  static let megabytesPerSecond = BenchmarkMetric.custom(
    "cache read MB/s", polarity: .prefersLarger, useScalingFactor: false)
}

/// Tolerances for `benchmark thresholds check` (static p90 thresholds in `Thresholds/`) and
/// `benchmark baseline check` (two baselines), sized for a noisy shared 2-core VM. The static
/// check compares only p90, so p90 carries a tolerance too; a metric missing here would be
/// checked strictly (0 %). Improvements beyond the tolerance fail the check as well (exit 4):
/// refresh the thresholds after a speed-up.
enum DecodeTolerance {
  static var timing: BenchmarkThresholds { BenchmarkThresholds(relative: [.p50: 25, .p90: 50]) }
  static var memory: BenchmarkThresholds { BenchmarkThresholds(relative: [.p50: 25, .p90: 25]) }
  static var mallocs: BenchmarkThresholds {
    BenchmarkThresholds(absolute: [.p50: 1_000, .p90: 1_000])
  }

  static var all: [BenchmarkMetric: BenchmarkThresholds] {
    [
      .wallClock: timing, .throughput: timing, .cpuTotal: timing,
      DecodeMetric.megabytesPerSecond: timing, .peakMemoryResident: memory,
      .mallocCountTotal: mallocs,
    ]
  }
}

func decodeConfiguration(kvLength: Int) -> Benchmark.Configuration {
  let metrics: [BenchmarkMetric] = [
    .wallClock, .throughput, .cpuTotal, .mallocCountTotal, .peakMemoryResident,
    DecodeMetric.megabytesPerSecond,
  ]
  // One call reads 67 MB (Skv = 4096) or 537 MB (Skv = 32768): a few ms to a few tens of ms.
  let maxIterations = kvLength <= 4096 ? 50 : 15
  return .init(
    metrics: metrics, timeUnits: .milliseconds, warmupIterations: 2,
    maxDuration: .seconds(3), maxIterations: maxIterations, thresholds: DecodeTolerance.all)
}

func registerDecode(paged: Bool, kvLength: Int, threadLabel: String, threads: Int) {
  let name = "decode_fp16_\(paged ? "paged" : "contiguous")_Skv=\(kvLength)_threads=\(threadLabel)"
  let problem = DecodeProblem(
    batch: DecodeShape.batch, queryHeads: DecodeShape.queryHeads, queryLength: 1, mask: .causal,
    queryType: DecodeShape.type)
  let options = DecodeOptions(threads: threads)
  let slot = DecodeSlot()

  Benchmark(
    name,
    configuration: decodeConfiguration(kvLength: kvLength),
    closure: { (benchmark: Benchmark) -> Void in
      guard let state = slot.state else {
        benchmark.error("setup did not fill the cache")
        return
      }
      let start = DispatchTime.now().uptimeNanoseconds
      for _ in benchmark.scaledIterations {
        do {
          try Decode.forward(
            problem, queries: UnsafeRawBufferPointer(state.queries), cache: state.cache,
            output: state.output, lse: nil, options: options)
        } catch {
          benchmark.error("Decode.forward failed: \(error)")
          return
        }
      }
      let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
      blackHole(state.output[0])
      let calls = Double(benchmark.scaledIterations.count)
      let mbps = Double(state.bytesRead) * calls / max(seconds, 1e-9) / 1e6
      benchmark.measurement(DecodeMetric.megabytesPerSecond, Int(mbps.rounded()))
    },
    setup: {
      slot.state = try DecodeState(
        problem: problem, paged: paged, kvLength: kvLength, splitSize: options.splitSize,
        seed: UInt64(kvLength) &* 31 &+ (paged ? 1 : 0))
    },
    teardown: {
      slot.state = nil
    }
  )
}

/// Holds one benchmark's cache and buffers from its setup to its teardown. The runner calls
/// setup, the iterations and teardown one after another, never concurrently.
final class DecodeSlot: @unchecked Sendable {
  var state: DecodeState?
}

/// A filled cache, fp16 queries (uniform in [-1, 1)), the output buffer, and the bytes of K and
/// V one call reads.
final class DecodeState {
  let cache: KVCache
  let queries: UnsafeMutableRawBufferPointer
  let output: UnsafeMutableRawBufferPointer
  let bytesRead: Int

  init(problem: DecodeProblem, paged: Bool, kvLength: Int, splitSize: Int, seed: UInt64) throws {
    let b = DecodeShape.batch
    let kvHeads = DecodeShape.kvHeads
    let dim = DecodeShape.headDim
    var random = XorShift(seed: seed)
    // Tokens are appended as Float32 (converted to fp16 by the cache), `chunk` tokens per
    // sequence at a time, round-robin over the sequences.
    func fill(
      chunk: Int,
      _ append: (Int, UnsafeRawBufferPointer, UnsafeRawBufferPointer, Int) throws -> Void
    ) rethrows {
      var keys = [Float](repeating: 0, count: chunk * kvHeads * dim)
      var values = keys
      var t = 0
      while t < kvLength {
        let n = min(chunk, kvLength - t)
        for s in 0..<b {
          random.fill(&keys)
          random.fill(&values)
          try keys.withUnsafeBytes { k in
            try values.withUnsafeBytes { v in try append(s, k, v, n) }
          }
        }
        t += n
      }
    }
    if paged {
      let blockSize = DecodeShape.blockSize
      let c = try PagedKVCache(
        sequences: b, blocks: b * ((kvLength + blockSize - 1) / blockSize), blockSize: blockSize,
        kvHeads: kvHeads, headDim: dim, scalarType: DecodeShape.type)
      try fill(chunk: blockSize) { s, k, v, n in
        try c.append(sequence: s, keys: k, values: v, tokens: n, type: .float32)
      }
      cache = c
    } else {
      let c = try ContiguousKVCache(
        sequences: b, capacity: kvLength, kvHeads: kvHeads, headDim: dim,
        scalarType: DecodeShape.type)
      try fill(chunk: 1024) { s, k, v, n in
        try c.append(sequence: s, keys: k, values: v, tokens: n, type: .float32)
      }
      cache = c
    }
    let counts = try problem.validate(cache: cache)
    var queryFloats = [Float](repeating: 0, count: counts.query)
    random.fill(&queryFloats)
    queries = .allocate(byteCount: 2 * counts.query, alignment: 64)
    for (i, x) in queryFloats.enumerated() {
      queries.storeBytes(of: Float16(x), toByteOffset: 2 * i, as: Float16.self)
    }
    output = .allocate(byteCount: 2 * counts.output, alignment: 64)
    output.initializeMemory(as: UInt8.self, repeating: 0)
    bytesRead = try Decode.cacheBytesRead(problem, cache: cache, splitSize: splitSize)
  }

  deinit {
    queries.deallocate()
    output.deallocate()
  }
}

/// xorshift64 filling Float32 arrays with uniform values in [-1, 1): fills the 128M values of the
/// Skv = 32768 cache in about a second, unlike `Float.random(in:)` through the system generator.
struct XorShift {
  var state: UInt64

  init(seed: UInt64) { state = seed | 1 }

  mutating func fill(_ x: inout [Float]) {
    for i in x.indices {
      state ^= state << 13
      state ^= state >> 7
      state ^= state << 17
      x[i] = Float(Int32(truncatingIfNeeded: state >> 32)) * (1 / 2_147_483_648)
    }
  }
}
