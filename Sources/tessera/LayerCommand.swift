import ArgumentParser
import Foundation
import Tessera

/// `tessera layer`: times a whole multi-head attention layer (projections + attention).
struct LayerCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "layer",
    abstract: "Time a multi-head attention layer with random weights.",
    discussion: """
      Self-attention over --seq tokens, or cross-attention to --memory-seq tokens of memory. \
      Prints the median time of the layer and the share spent in the four projections \
      (packed SGEMM) against the attention core.
      """)

  @Option(help: "Embedding dimension.") var embed = 1024
  @Option(help: "Query heads.") var heads = 16
  @Option(help: "Key/value heads (GQA); default: --heads.") var kvHeads: Int?
  @Option(help: "Head dimension; default: embed / heads.") var headDim: Int?
  @Option(help: "Tokens (query rows).") var seq = 2048
  @Option(help: "Memory tokens: cross-attention when given.") var memorySeq: Int?
  @Flag(help: "Causal self-attention.") var causal = false
  @Option(help: "Worker threads; default: every CPU available.") var threads: Int?
  @Option(help: "Timed iterations.") var iterations = 5
  @Option(help: "Untimed iterations first.") var warmup = 1
  @Flag(help: "Print one JSON object instead of text.") var json = false

  func validate() throws {
    if embed < 1 || heads < 1 || seq < 1 { throw ValidationError("sizes must be positive") }
    if let memorySeq, memorySeq < 1 { throw ValidationError("--memory-seq must be positive") }
    if causal && memorySeq != nil {
      throw ValidationError("--causal applies to self-attention, not --memory-seq")
    }
    if iterations < 1 { throw ValidationError("--iterations must be at least 1") }
  }

  func run() throws {
    try Console.reportingErrors { try execute() }
  }

  struct Report: Encodable {
    var configuration: String
    var seq: Int
    var memorySeq: Int?
    var causal: Bool
    var threads: Int
    var medianMs: Double
    var minMs: Double
    var projectionsMs: Double
    var attentionMs: Double
    var projectionShare: Double
    var attentionShare: Double
    var projectionGflops: Double
    var attentionGflops: Double
  }

  private func execute() throws {
    let config = MultiHeadAttentionConfiguration(
      embedDim: embed, heads: heads, kvHeads: kvHeads, headDim: headDim)
    let options = AttentionOptions(threads: threads)
    let layer = try MultiHeadAttention(
      configuration: config, weights: .random(config, seed: 1), options: options)
    var random = SeededRandom(seed: 2)
    let x = random.floats(seq * embed)
    let memory = memorySeq.map { random.floats($0 * embed) }
    let call = {
      if let memory {
        _ = try layer.crossAttention(x, memory: memory)
      } else {
        _ = try layer.selfAttention(x, causal: causal)
      }
    }
    for _ in 0..<warmup { try call() }
    var samples: [Double] = []
    var profiles: [MultiHeadAttention.Profile] = []
    for _ in 0..<iterations {
      samples.append(try Stopwatch.seconds { try call() })
      profiles.append(layer.lastProfile)
    }
    let timing = TimingSummary(samples: samples)
    let proj = TimingSummary(samples: profiles.map(\.projections)).median
    let attn = TimingSummary(samples: profiles.map(\.attention)).median
    // FLOPs: projections 2·rows·in·out each; attention as `tessera bench` counts it.
    let m = memorySeq ?? seq
    let d = config.headDim
    let projFlops =
      2 * Double(seq) * Double(embed) * Double(heads * d) * 2
      + 2 * Double(m) * Double(embed) * Double(config.kvHeads * d) * 2
    let shape = AttentionShape(
      queryHeads: heads, kvHeads: config.kvHeads, queryLength: seq, keyLength: m, headDim: d)
    let attnFlops = AttentionProblem(shape: shape, mask: causal ? .causal : .none).flops
    let report = Report(
      configuration: "\(config)", seq: seq, memorySeq: memorySeq, causal: causal,
      threads: options.threads, medianMs: timing.median * 1e3, minMs: timing.min * 1e3,
      projectionsMs: proj * 1e3, attentionMs: attn * 1e3,
      projectionShare: proj / (proj + attn), attentionShare: attn / (proj + attn),
      projectionGflops: projFlops / proj / 1e9, attentionGflops: attnFlops / attn / 1e9)
    if json {
      let encoder = JSONEncoder()
      encoder.keyEncodingStrategy = .convertToSnakeCase
      encoder.outputFormatting = [.sortedKeys]
      print(String(decoding: try encoder.encode(report), as: UTF8.self))
      return
    }
    let kind =
      memorySeq.map { "cross-attention S=\(seq) M=\($0)" }
      ?? "self-attention S=\(seq)\(causal ? " causal" : "")"
    print(
      [
        "layer    \(config) \(kind) threads=\(options.threads)",
        "time     median \(Console.fixed(report.medianMs, 3)) ms, min"
          + " \(Console.fixed(report.minMs, 3)) ms over \(iterations) iterations",
        "split    projections \(Console.fixed(report.projectionsMs, 3)) ms"
          + " (\(Console.fixed(report.projectionShare * 100, 1))%,"
          + " \(Console.fixed(report.projectionGflops, 1)) GFLOP/s), attention"
          + " \(Console.fixed(report.attentionMs, 3)) ms"
          + " (\(Console.fixed(report.attentionShare * 100, 1))%,"
          + " \(Console.fixed(report.attentionGflops, 1)) GFLOP/s)",
      ].joined(separator: "\n"))
  }
}
