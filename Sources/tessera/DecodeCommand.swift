import ArgumentParser
import Foundation
import Tessera

/// `--dtype` of `tessera decode`: storage of the cache, the queries and the output.
enum DecodeDTypeArgument: String, CaseIterable, ExpressibleByArgument {
  case f32, f16, bf16

  var scalarType: ScalarType {
    switch self {
    case .f32: .float32
    case .f16: .float16
    case .bf16: .bfloat16
    }
  }
}

/// `tessera decode`: times flash-decoding against a filled KV cache and reports the cache read
/// bandwidth next to a STREAM-like triad measured in the same run.
struct DecodeCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "decode",
    abstract: "Time split-KV decode against a KV cache on random data.",
    discussion: """
      Fills a contiguous (or, with --paged, a paged) cache of --batch sequences × --kv-seq \
      tokens with random data, then times Decode.forward for --seq new tokens per sequence. \
      Bandwidth counts the bytes of K and V the call reads (each visible cached row once per \
      kv head); the triad (a[i] = b[i] + s·c[i], 3 × 256 MiB) runs on the same threads right \
      before, so the ratio compares two numbers taken under the same machine conditions. The \
      paged cache is filled round-robin one block per sequence at a time, as a server \
      interleaves requests, so each sequence's blocks are scattered through the pool.
      """)

  @Option(help: "Sequences decoded together.") var batch = 4
  @Option(help: "Query heads.") var heads = 32
  @Option(help: "Key/value heads (GQA); default: --heads.") var kvHeads: Int?
  @Option(help: "Head dimension (Q, K, V).") var dim = 128
  @Option(help: "Cached tokens per sequence.") var kvSeq = 32768
  @Option(help: "New query tokens per sequence (Sq).") var seq = 1
  @Option(help: "Storage of the cache, queries and output: f32, f16 or bf16.")
  var dtype: DecodeDTypeArgument = .f16
  @Flag(help: "Use a paged cache instead of a contiguous one.") var paged = false
  @Option(help: "Tokens per block of the paged cache.") var blockSize = 16
  @Option(help: "Worker threads; default: every CPU available.") var threads: Int?
  @Option(help: "Keys per split (fixed by the call, never by the thread count).")
  var split = DecodeOptions.defaultSplitSize
  @Option(help: "Sliding window: keys visible left of the diagonal.") var window: Int?
  @Option(help: "Timed iterations.") var iterations = 10
  @Option(help: "Untimed iterations first.") var warmup = 2
  @Option(help: "Seed of the random data.") var seed: UInt64 = 42
  @Flag(inversion: .prefixedNo, help: "Measure the triad bandwidth in the same run.")
  var triad = true
  @Flag(help: "Print one JSON object instead of text.") var json = false

  func validate() throws {
    if let window, window < 0 { throw ValidationError("--window must be non-negative") }
    do {
      try benchmark.validate()
    } catch {
      throw ValidationError(error.description)
    }
  }

  func run() throws {
    try Console.reportingErrors { try benchmark.run() }
  }

  /// The benchmark these options describe: the cache, queries and output all in --dtype, the
  /// causal mask (or a causal sliding window), the default scale and no score modifiers.
  private var benchmark: DecodeBenchmark {
    DecodeBenchmark(
      batch: batch, heads: heads, kvHeads: kvHeads ?? heads, dim: dim, kvSeq: kvSeq, seq: seq,
      cacheType: dtype.scalarType, queryType: dtype.scalarType, paged: paged,
      blockSize: blockSize, threads: threads ?? ProcessInfo.processInfo.activeProcessorCount,
      split: split, mask: window.map { AttentionMask.slidingWindow(left: $0) } ?? .causal,
      modifiers: .none, scale: nil, iterations: iterations, warmup: warmup, seed: seed,
      triad: triad, json: json)
  }
}
