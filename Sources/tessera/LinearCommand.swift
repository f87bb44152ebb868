import ArgumentParser
import Foundation
import Tessera

/// `tessera linear`: times softmax-free linear attention (elu+1 feature map).
struct LinearCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "linear",
    abstract: "Time linear attention (φ = elu+1) on random data.",
    discussion: """
      O(n·D²) per head: 4× the sequence should cost about 4× the time. --compare-seq times a \
      second length in the same run and prints the ratio.
      """)

  @Option(help: "Batch size.") var batch = 1
  @Option(help: "Heads.") var heads = 8
  @Option(help: "Sequence length.") var seq = 16384
  @Option(help: "Head dimension (of Q, K and V).") var dim = 64
  @Flag(help: "Causal (chunked prefix sums).") var causal = false
  @Option(help: "Rows per chunk.") var chunk = 64
  @Option(help: "Worker threads; default: every CPU available.") var threads: Int?
  @Option(help: "Timed iterations.") var iterations = 5
  @Option(help: "A second sequence length timed in the same run (ratio printed).")
  var compareSeq: Int?
  @Flag(help: "Print one JSON object instead of text.") var json = false

  func validate() throws {
    if batch < 1 || heads < 1 || seq < 1 || dim < 1 || chunk < 1 {
      throw ValidationError("sizes must be positive")
    }
    if let compareSeq, compareSeq < 1 { throw ValidationError("--compare-seq must be positive") }
    if iterations < 1 { throw ValidationError("--iterations must be at least 1") }
  }

  func run() throws {
    try Console.reportingErrors { try execute() }
  }

  struct Sample: Encodable {
    var seq: Int
    var medianMs: Double
    var minMs: Double
    var gflops: Double
  }

  struct Report: Encodable {
    var batch: Int
    var heads: Int
    var dim: Int
    var causal: Bool
    var chunk: Int
    var threads: Int
    var runs: [Sample]
    var timeRatio: Double?
  }

  private func time(seq: Int, options: LinearAttentionOptions) throws -> Sample {
    let shape = AttentionShape(batch: batch, queryHeads: heads, queryLength: seq, headDim: dim)
    var random = SeededRandom(seed: 3)
    let n = batch * seq * heads * dim
    let q = random.floats(n)
    let k = random.floats(n)
    let v = random.floats(n)
    _ = try LinearAttention.forward(
      shape: shape, causal: causal, q: q, k: k, v: v, options: options)
    var samples: [Double] = []
    for _ in 0..<iterations {
      samples.append(
        try Stopwatch.seconds {
          _ = try LinearAttention.forward(
            shape: shape, causal: causal, q: q, k: k, v: v, options: options)
        })
    }
    let t = TimingSummary(samples: samples)
    let flops = LinearAttention.flops(shape: shape, causal: causal, chunk: chunk)
    return Sample(
      seq: seq, medianMs: t.median * 1e3, minMs: t.min * 1e3, gflops: flops / t.median / 1e9)
  }

  private func execute() throws {
    let options = LinearAttentionOptions(
      threads: threads ?? ProcessInfo.processInfo.activeProcessorCount, chunk: chunk)
    var runs = [try time(seq: seq, options: options)]
    if let compareSeq { runs.append(try time(seq: compareSeq, options: options)) }
    let ratio = runs.count == 2 ? runs[1].medianMs / runs[0].medianMs : nil
    let report = Report(
      batch: batch, heads: heads, dim: dim, causal: causal, chunk: chunk,
      threads: options.threads, runs: runs, timeRatio: ratio)
    if json {
      let encoder = JSONEncoder()
      encoder.keyEncodingStrategy = .convertToSnakeCase
      encoder.outputFormatting = [.sortedKeys]
      print(String(decoding: try encoder.encode(report), as: UTF8.self))
      return
    }
    var lines = [
      "linear   B=\(batch) H=\(heads) D=\(dim)\(causal ? " causal" : "") chunk=\(chunk)"
        + " threads=\(options.threads)"
    ]
    for r in runs {
      lines.append(
        "S=\(r.seq)  median \(Console.fixed(r.medianMs, 3)) ms, min \(Console.fixed(r.minMs, 3))"
          + " ms, \(Console.fixed(r.gflops, 1)) GFLOP/s")
    }
    if let ratio, runs.count == 2 {
      lines.append(
        "ratio    time(S=\(runs[1].seq)) / time(S=\(runs[0].seq)) = \(Console.fixed(ratio, 2))"
          + " for \(Console.fixed(Double(runs[1].seq) / Double(runs[0].seq), 2))× the length")
    }
    print(lines.joined(separator: "\n"))
  }
}
