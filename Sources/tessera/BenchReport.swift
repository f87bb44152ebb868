import Foundation
import Tessera

/// The result of `tessera bench`, as text or as one JSON object.
struct BenchReport: Encodable {
  /// Always "prefill": `tessera bench` reports decode runs as `"kernel": "decode"`.
  var kernel = "prefill"
  var medianMs: Double
  var minMs: Double
  var maxMs: Double
  var timesMs: [Double]
  /// GFLOP/s at the median time (the figure to compare); `gflopsBest` at the minimum.
  var gflops: Double
  var gflopsBest: Double
  var flops: Double
  var batch: Int
  var heads: Int
  var kvHeads: Int
  var seq: Int
  var kvSeq: Int
  var dim: Int
  var valueDim: Int
  var causal: Bool
  /// "none", "causal" (bottom-right) or "causal-top-left".
  var mask: String
  var alignment: String?
  var scale: Float
  var layout: String
  var threads: Int
  /// "pinned" or "dispatch".
  var executor: String
  var tileQ: Int
  var tileK: Int
  var iterations: Int
  var warmup: Int
  var seed: UInt64
  var peakGflops: Double?
  /// gflops / peakGflops.
  var peakFraction: Double?
  var isa: [String]

  init(
    problem: AttentionProblem, options: AttentionOptions, layout: LayoutOrder,
    timing: TimingSummary, warmup: Int, seed: UInt64, peakGFLOPS: Double?
  ) {
    let s = problem.shape
    medianMs = timing.median * 1e3
    minMs = timing.min * 1e3
    maxMs = timing.max * 1e3
    timesMs = timing.samples.map { $0 * 1e3 }
    flops = problem.flops
    let gflops = problem.flops / timing.median / 1e9
    self.gflops = gflops
    gflopsBest = flops / timing.min / 1e9
    batch = s.batch
    heads = s.queryHeads
    kvHeads = s.kvHeads
    seq = s.queryLength
    kvSeq = s.keyLength
    dim = s.headDim
    valueDim = s.valueDim
    causal = problem.mask.isCausal
    mask = problem.mask.description
    alignment =
      causal ? (problem.mask.alignment == .bottomRight ? "bottom-right" : "top-left") : nil
    scale = problem.effectiveScale
    self.layout = layout.rawValue
    threads = options.threads
    executor = (options.executor ?? (options.runtime ?? .shared).defaultExecutor).rawValue
    tileQ = options.tileConfig.queryTile
    tileK = options.tileConfig.keyTile
    iterations = timing.samples.count
    self.warmup = warmup
    self.seed = seed
    peakGflops = peakGFLOPS
    peakFraction = peakGFLOPS.map { gflops / $0 }
    isa = BuildInfo.compiled.names
    self.problem = problem
  }

  private var problem: AttentionProblem
  private enum CodingKeys: String, CodingKey {
    case kernel, medianMs, minMs, maxMs, timesMs, gflops, gflopsBest, flops, batch, heads, kvHeads,
      seq,
      kvSeq, dim, valueDim, causal, mask, alignment, scale, layout, threads, executor,
      tileQ, tileK,
      iterations,
      warmup, seed, peakGflops, peakFraction, isa
  }

  func json() throws -> String {
    let encoder = JSONEncoder()
    encoder.keyEncodingStrategy = .convertToSnakeCase
    encoder.outputFormatting = [.sortedKeys]
    return String(decoding: try encoder.encode(self), as: UTF8.self)
  }

  var text: String {
    var lines = [
      "problem  \(problem) layout=\(layout)",
      "run      threads=\(threads) executor=\(executor) tiles Br=\(tileQ) Bc=\(tileK), \(iterations) iterations"
        + " after \(warmup) warmup, seed \(seed)",
      "time     median \(Console.fixed(medianMs, 3)) ms, min \(Console.fixed(minMs, 3)) ms,"
        + " max \(Console.fixed(maxMs, 3)) ms",
      "rate     \(Console.fixed(gflops)) GFLOP/s at the median, \(Console.fixed(gflopsBest))"
        + " at the min (\(Console.fixed(flops / 1e9, 3)) GFLOP per call)",
    ]
    if let peakGflops, let peakFraction {
      lines.append(
        "peak     FMA \(Console.fixed(peakGflops, 1)) GFLOP/s on \(threads) thread(s):"
          + " \(Console.fixed(peakFraction * 100, 1))% of peak")
    }
    if let warning = BuildInfo.warning { lines.append("warning  \(warning)") }
    return lines.joined(separator: "\n")
  }
}
