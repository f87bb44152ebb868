import Foundation
import Tessera

/// One point of a sweep: a problem on a thread count, measured.
struct ScaleRun: Codable {
  var phase: String
  var mode: String
  /// The curve this run belongs to (the problem's label, the same for every thread count).
  var series: String
  var problem: String
  var batch: Int
  var heads: Int
  var kvHeads: Int
  var seq: Int
  var kvSeq: Int
  var dim: Int
  var mask: String
  var dtype: String
  var threads: Int
  var executor: String
  var iterations: Int
  var medianS: Double
  var minS: Double
  var flops: Double
  var gflops: Double
  var peakGflops: Double?
  var bytesRead: Double?
  var gbps: Double?
  var triadGbps: Double?
  /// Against the smallest thread count of the same series, scaled to it (see `computeSpeedups`).
  var speedup = 1.0
  var efficiency = 1.0

  var peakFraction: Double? { peakGflops.map { gflops / $0 } }
  var bandwidthFraction: Double? {
    guard let gbps, let triadGbps else { return nil }
    return gbps / triadGbps
  }

  /// Speedup of each run against its series' run on the fewest threads `t₀`: the throughput
  /// (FLOP/s) ratio times `t₀`, so with `t₀ = 1` it is the plain speedup (strong: time ratio;
  /// weak: work-scaled time ratio). Efficiency is speedup / threads.
  static func computeSpeedups(_ runs: inout [ScaleRun]) {
    var base: [String: (threads: Int, rate: Double)] = [:]
    for r in runs where base[r.series].map({ r.threads < $0.threads }) ?? true {
      base[r.series] = (r.threads, r.flops / r.medianS)
    }
    for i in runs.indices {
      guard let b = base[runs[i].series], b.rate > 0 else { continue }
      runs[i].speedup = Double(b.threads) * (runs[i].flops / runs[i].medianS) / b.rate
      runs[i].efficiency = runs[i].speedup / Double(runs[i].threads)
    }
  }
}

/// Runs one problem on one thread count: allocates and fills its inputs, warms up, then times
/// `--iterations` calls (with the trace recorder attached, when tracing).
struct ScaleRunner {
  let command: ScaleCommand
  let runtime: Runtime
  let problem: ScaleProblem
  let threads: Int
  let trace: TraceOutput?

  func measure() throws -> ScaleRun {
    let (samples, bytesRead) =
      problem.phase == .prefill ? (try prefill(), nil) : try decode()
    let timing = TimingSummary(samples: samples)
    let flops = problem.flops
    return ScaleRun(
      phase: problem.phase.rawValue, mode: command.mode.rawValue, series: problem.label,
      problem: problem.label, batch: problem.batch, heads: problem.heads,
      kvHeads: problem.kvHeads, seq: problem.phase == .prefill ? problem.seq : 1,
      kvSeq: problem.seq, dim: problem.dim, mask: problem.mask.rawValue,
      dtype: problem.dtype.rawValue, threads: threads,
      executor: (command.executor ?? runtime.defaultExecutor).rawValue,
      iterations: command.iterations, medianS: timing.median, minS: timing.min, flops: flops,
      gflops: flops / timing.median / 1e9, peakGflops: nil, bytesRead: bytesRead,
      gbps: bytesRead.map { $0 / timing.median / 1e9 }, triadGbps: nil)
  }

  /// Times `body` `--iterations` times after `--warmup` untimed calls; traced iterations are
  /// spans named after the point.
  private func time(_ body: () throws -> Void) throws -> [Double] {
    for _ in 0..<command.warmup { try body() }
    var samples: [Double] = []
    for i in 0..<command.iterations {
      if let trace {
        let args = ["problem": problem.label, "threads": "\(threads)", "iteration": "\(i)"]
        samples.append(
          try trace.record(
            on: runtime, "\(problem.label) t=\(threads) #\(i)", arguments: args
          ) { try Stopwatch.seconds(body) })
      } else {
        samples.append(try Stopwatch.seconds(body))
      }
    }
    return samples
  }

  private func prefill() throws -> [Double] {
    let problem = self.problem.attentionProblem
    let options = AttentionOptions(
      threads: threads, executor: command.executor, runtime: runtime)
    let counts = try Attention.validate(
      problem, qBytes: .max, kBytes: .max, vBytes: .max, outputBytes: .max, lse: nil,
      options: options)
    let buffers = BenchBuffers(problem: problem, counts: counts, seed: command.seed)
    defer { buffers.deallocate() }
    return try time { try buffers.forward(problem, options: options) }
  }

  private func decode() throws -> ([Double], Double?) {
    let p = problem
    let type = p.dtype.scalarType
    let cache = try ContiguousKVCache(
      sequences: p.batch, capacity: p.seq, kvHeads: p.kvHeads, headDim: p.dim, scalarType: type,
      runtime: runtime)
    // Filled in chunks of 1024 tokens from Float32 (converted by the cache).
    var generator = DecodeFill(seed: command.seed)
    let chunk = 1024
    var keys = [Float](repeating: 0, count: chunk * p.kvHeads * p.dim)
    var values = keys
    var t = 0
    while t < p.seq {
      let n = min(chunk, p.seq - t)
      for s in 0..<p.batch {
        generator.fill(&keys)
        generator.fill(&values)
        try keys.withUnsafeBytes { k in
          try values.withUnsafeBytes { v in
            try cache.append(sequence: s, keys: k, values: v, tokens: n, type: .float32)
          }
        }
      }
      t += n
    }
    let problem = DecodeProblem(
      batch: p.batch, queryHeads: p.heads, queryLength: 1, mask: .causal, queryType: type)
    let options = DecodeOptions(
      threads: threads, splitSize: command.split, executor: command.executor, runtime: runtime)
    let counts = try problem.validate(cache: cache)
    var queryFloats = [Float](repeating: 0, count: counts.query)
    generator.fill(&queryFloats)
    let queries = UnsafeMutableRawBufferPointer.allocate(
      byteCount: counts.query * type.byteCount, alignment: 64)
    let output = UnsafeMutableRawBufferPointer.allocate(
      byteCount: counts.output * type.byteCount, alignment: 64)
    let lse = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(1, counts.lse))
    defer {
      queries.deallocate()
      output.deallocate()
      lse.deallocate()
    }
    DecodeFill.store(queryFloats, as: type, into: queries)
    let bytes = try Decode.cacheBytesRead(problem, cache: cache, splitSize: command.split)
    let samples = try time {
      try Decode.forward(
        problem, queries: UnsafeRawBufferPointer(queries), cache: cache, output: output, lse: lse,
        options: options)
    }
    return (samples, Double(bytes))
  }
}
