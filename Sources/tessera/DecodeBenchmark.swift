import Dispatch
import Foundation
import Tessera

/// One decode benchmark: fill a contiguous (or paged) KV cache with random data, time
/// `Decode.forward` for `seq` new tokens per sequence, and report the cache read bandwidth next
/// to a STREAM-like triad measured in the same run.
///
/// `tessera decode` and `tessera bench` (when it picks the decode kernel) both run this, so the
/// two commands time the same thing the same way.
struct DecodeBenchmark {
  var batch: Int
  var heads: Int
  var kvHeads: Int
  var dim: Int
  /// Cached tokens per sequence (Skv).
  var kvSeq: Int
  /// New query tokens per sequence (Sq).
  var seq: Int
  /// Storage of the cache (K and V).
  var cacheType: ScalarType
  /// Storage of the queries and the output.
  var queryType: ScalarType
  var paged: Bool
  /// Tokens per block of the paged cache (unused when contiguous).
  var blockSize: Int
  var threads: Int
  /// Keys per split (flash-decoding).
  var split: Int
  var executor: ExecutorKind? = nil
  var mask: AttentionMask
  var modifiers: ScoreModifiers
  /// Multiplies Q·Kᵀ; `nil` means 1/√dim.
  var scale: Float?
  var iterations: Int
  var warmup: Int
  var seed: UInt64
  var triad: Bool
  var json: Bool
  /// Why this run is a decode run (bench's kernel choice). When set, the report opens with it and
  /// also names the mask, scale and Q/O storage; `nil` (`tessera decode`) keeps the report in
  /// the format scripts already parse.
  var kernelNote: String? = nil

  /// The checks `tessera decode` has always made, with its messages.
  func validate() throws(CLIError) {
    for (name, value) in [
      ("--batch", batch), ("--heads", heads), ("--dim", dim), ("--kv-seq", kvSeq), ("--seq", seq),
      ("--block-size", blockSize), ("--split", split), ("--iterations", iterations),
    ] where value < 1 {
      throw CLIError("\(name) must be at least 1")
    }
    if kvHeads < 1 || heads % kvHeads != 0 { throw CLIError("--kv-heads must divide --heads") }
    if threads < 1 { throw CLIError("--threads must be at least 1") }
    if warmup < 0 { throw CLIError("--warmup must be non-negative") }
    if seq > kvSeq { throw CLIError("--seq must not exceed --kv-seq") }
  }

  /// What one run measured.
  struct Measurement {
    /// Bytes of K and V one call reads (each visible cached row once per kv head).
    var bytesRead: Int
    var fillSeconds: Double
    var median: Double
    var best: Double
    /// CPU time over wall time × threads during the timed iterations.
    var cpuBusy: Double
    var triadGBps: Double?
    /// Median of the triad passes run right before each call.
    var pairedTriadGBps: Double?
    /// Median over the calls of (the call's GB/s) / (the triad pass right before it).
    var pairedFraction: Double?
    var lseFinite: Bool

    var medianGBps: Double { Double(bytesRead) / median / 1e9 }
    var bestGBps: Double { Double(bytesRead) / best / 1e9 }
  }

  func run() throws {
    try validate()
    let measurement = try measure()
    print(json ? jsonReport(measurement) : textReport(measurement))
    if !measurement.lseFinite { Console.warning("some LSE values are not finite") }
  }

  private func measure() throws -> Measurement {
    let cacheBytes =
      Double(batch) * Double(kvSeq) * Double(kvHeads) * Double(2 * dim * cacheType.byteCount)
    // The triad's 3 arrays of 256 MiB stay allocated through the timed calls (a pass runs
    // before each).
    let triadBytes = triad ? 3.0 * 256 * 1024 * 1024 : 0
    try Console.requireMemory(
      cacheBytes + triadBytes,
      for: triad ? "K and V of the cache and the triad's arrays" : "K and V of the cache",
      fraction: 0.7)

    let fillStart = DispatchTime.now().uptimeNanoseconds
    let cache = try makeCache()
    let fillSeconds = Double(DispatchTime.now().uptimeNanoseconds - fillStart) / 1e9

    let problem = DecodeProblem(
      batch: batch, queryHeads: heads, queryLength: seq, mask: mask, scale: scale,
      modifiers: modifiers, queryType: queryType, outputType: queryType)
    let options = DecodeOptions(threads: threads, splitSize: split, executor: executor)
    let counts = try problem.validate(cache: cache)
    let queries = DecodeFill.buffer(count: counts.query, type: queryType, seed: seed &+ 1)
    let output = UnsafeMutableRawBufferPointer.allocate(
      byteCount: counts.output * queryType.byteCount, alignment: 64)
    let lse = UnsafeMutableBufferPointer<Float>.allocate(capacity: counts.lse)
    defer {
      queries.deallocate()
      output.deallocate()
      lse.deallocate()
    }
    let bytesRead = try Decode.cacheBytesRead(problem, cache: cache, splitSize: split)

    func once() throws -> Double {
      let start = DispatchTime.now().uptimeNanoseconds
      try Decode.forward(
        problem, queries: UnsafeRawBufferPointer(queries), cache: cache, output: output, lse: lse,
        options: options)
      return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }
    for _ in 0..<warmup { _ = try once() }
    // The triad runs right before the timed calls, on the same threads, so the ratio compares
    // two numbers taken under the same machine conditions (best of 3 passes). On a shared
    // machine those conditions drift within a run, so one triad pass also runs right before
    // each call, and each call's bandwidth is divided by its own pass (`pairedFractions`).
    let probe = triad ? TriadProbe(threads: threads, megabytes: 256) : nil
    let triadGBps = probe?.gbps(repeats: 3)
    var samples: [Double] = []
    var pairedTriads: [Double] = []
    var pairedFractions: [Double] = []
    var cpuSeconds = 0.0
    for _ in 0..<iterations {
      let pass = probe?.gbps(repeats: 1)
      let cpuBefore = Self.processCPUSeconds()
      let seconds = try once()
      cpuSeconds += Self.processCPUSeconds() - cpuBefore
      samples.append(seconds)
      if let pass {
        pairedTriads.append(pass)
        pairedFractions.append(Double(bytesRead) / seconds / 1e9 / pass)
      }
    }
    // CPU time over wall time × threads: well below 1 means other processes took the cores
    // (the bandwidth figures then understate the kernel).
    let cpuBusy = cpuSeconds / (samples.reduce(0, +) * Double(threads))
    samples.sort()
    pairedTriads.sort()
    pairedFractions.sort()
    return Measurement(
      bytesRead: bytesRead, fillSeconds: fillSeconds, median: samples[samples.count / 2],
      best: samples[0], cpuBusy: cpuBusy, triadGBps: triadGBps,
      pairedTriadGBps: pairedTriads.isEmpty ? nil : pairedTriads[pairedTriads.count / 2],
      pairedFraction: pairedFractions.isEmpty ? nil : pairedFractions[pairedFractions.count / 2],
      lseFinite: (0..<counts.lse).allSatisfy { lse[$0].isFinite })
  }

  /// The cache, filled with random tokens. The paged cache is filled round-robin one block per
  /// sequence at a time, as a server interleaves requests, so each sequence's blocks are
  /// scattered through the pool.
  private func makeCache() throws -> KVCache {
    func fill(
      chunk: Int,
      _ append: (Int, UnsafeRawBufferPointer, UnsafeRawBufferPointer, Int) throws -> Void
    ) throws {
      try DecodeFill.fillCache(
        sequences: batch, tokens: kvSeq, chunk: chunk, keyWidth: kvHeads * dim,
        valueWidth: kvHeads * dim, seed: seed, append)
    }
    if paged {
      let blocksPerSequence = (kvSeq + blockSize - 1) / blockSize
      let c = try PagedKVCache(
        sequences: batch, blocks: batch * blocksPerSequence, blockSize: blockSize,
        kvHeads: kvHeads, headDim: dim, scalarType: cacheType)
      try fill(chunk: blockSize) { s, k, v, n in
        try c.append(sequence: s, keys: k, values: v, tokens: n, type: .float32)
      }
      return c
    }
    let c = try ContiguousKVCache(
      sequences: batch, capacity: kvSeq, kvHeads: kvHeads, headDim: dim, scalarType: cacheType)
    try fill(chunk: 1024) { s, k, v, n in
      try c.append(sequence: s, keys: k, values: v, tokens: n, type: .float32)
    }
    return c
  }

  /// User + system CPU time of the process so far.
  static func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
  }
}
