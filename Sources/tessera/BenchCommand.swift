import ArgumentParser
import Foundation
import Tessera

/// `tessera bench`: times `Attention.forward` on random data.
struct BenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench",
    abstract: "Time the attention kernel on random data.",
    discussion: """
      Inputs are allocated and filled once (seeded, uniform in [-1, 1)); only the kernel is \
      timed. FLOPs count 2·D for Q·Kᵀ and 2·Dv for P·V per unmasked (query, key) pair. The \
      FMA peak is measured in the same run (unless --no-peak) to report a fraction of it.
      """)

  @Option(help: "Batch size.") var batch = 1
  @Option(help: "Query heads.") var heads = 8
  @Option(help: "Key/value heads (GQA); default: --heads.") var kvHeads: Int?
  @Option(help: "Query length.") var seq = 4096
  @Option(help: "Key/value length; default: --seq.") var kvSeq: Int?
  @Option(help: "Head dimension of Q and K.") var dim = 128
  @Option(help: "Head dimension of V and O; default: --dim.") var valueDim: Int?
  @OptionGroup var maskOptions: MaskOptions
  @Option(help: "Softmax scale; default 1/√dim.") var scale: Float?
  @Option(help: "Memory order of Q, K, V, O: bshd or bhsd.") var layout: LayoutOrder = .bshd
  @Option(help: "Worker threads; default: every CPU available.") var threads: Int?
  @Option(help: "Timed iterations.") var iterations = 5
  @Option(help: "Untimed iterations first (page faults, caches, thread start).") var warmup = 1
  @Option(help: "Query rows per tile (Br), rounded up to a multiple of 24.") var tileQ: Int?
  @Option(help: "Keys per tile (Bc), rounded up to a multiple of 4.") var tileK: Int?
  @Option(help: "Seed of the random inputs.") var seed: UInt64 = 42
  @Flag(inversion: .prefixedNo, help: "Measure the FMA peak in the same run (about 0.5 s).")
  var peak = true
  @Flag(help: "Print one JSON object instead of text.") var json = false

  func validate() throws {
    if iterations < 1 { throw ValidationError("--iterations must be at least 1") }
    if warmup < 0 { throw ValidationError("--warmup must be non-negative") }
    if let tileQ, tileQ < 1 { throw ValidationError("--tile-q must be positive") }
    if let tileK, tileK < 1 { throw ValidationError("--tile-k must be positive") }
  }

  func run() throws {
    try Console.reportingErrors { try execute() }
  }

  private func execute() throws {
    let shape = AttentionShape(
      batch: batch, queryHeads: heads, kvHeads: kvHeads, queryLength: seq, keyLength: kvSeq,
      headDim: dim, valueDim: valueDim)
    let problem = AttentionProblem(
      shape: shape, mask: maskOptions.mask, scale: scale, order: layout)
    let defaults = TileConfig.default
    let options = AttentionOptions(
      threads: threads,
      tileConfig: TileConfig(
        queryTile: tileQ ?? defaults.queryTile, keyTile: tileK ?? defaults.keyTile))
    // Validate before allocating: the counts come from validated sizes, never from raw input.
    let counts = try Attention.validate(
      problem, q: .max, k: .max, v: .max, output: .max, lse: nil, options: options)

    // Refuse what cannot fit rather than die in malloc or the OOM killer.
    let bytes =
      4
      * (Double(counts.query) + Double(counts.key) + Double(counts.value)
        + Double(counts.output))
    let memory = Double(ProcessInfo.processInfo.physicalMemory)
    if bytes > 0.8 * memory {
      throw CLIError(
        "Q, K, V and O need \(Console.fixed(bytes / 1e9)) GB; this machine has"
          + " \(Console.fixed(memory / 1e9)) GB of memory")
    }
    let buffers = BenchBuffers(counts: counts, seed: seed)
    defer { buffers.deallocate() }
    for _ in 0..<warmup { try buffers.forward(problem, options: options) }
    // The peak is measured right before the kernel, on the same threads, so the fraction
    // compares two numbers taken under the same machine conditions.
    let peakGFLOPS = peak ? PeakProbe.fmaGFLOPS(threads: options.threads, seconds: 0.05) : nil
    var samples: [Double] = []
    for _ in 0..<iterations {
      samples.append(try Stopwatch.seconds { try buffers.forward(problem, options: options) })
    }
    let report = BenchReport(
      problem: problem, options: options, layout: layout, timing: TimingSummary(samples: samples),
      warmup: warmup, seed: seed, peakGFLOPS: peakGFLOPS)
    print(json ? try report.json() : report.text)
  }
}

/// Q, K, V, O allocated once, outside the timed loop. O(n·d) memory: no buffer grows with
/// Sq·Skv (the kernel's own scratch is a few tiles per thread).
struct BenchBuffers {
  let q: UnsafeMutableBufferPointer<Float>
  let k: UnsafeMutableBufferPointer<Float>
  let v: UnsafeMutableBufferPointer<Float>
  let o: UnsafeMutableBufferPointer<Float>

  init(counts: AttentionProblem.RequiredCounts, seed: UInt64) {
    q = .allocate(capacity: counts.query)
    k = .allocate(capacity: counts.key)
    v = .allocate(capacity: counts.value)
    o = .allocate(capacity: counts.output)
    var random = SeededRandom(seed: seed)
    random.fill(q)
    random.fill(k)
    random.fill(v)
    o.initialize(repeating: 0)
  }

  func forward(_ problem: AttentionProblem, options: AttentionOptions) throws(AttentionError) {
    try Attention.forward(
      problem, q: UnsafeBufferPointer(q), k: UnsafeBufferPointer(k), v: UnsafeBufferPointer(v),
      output: o, options: options)
  }

  func deallocate() {
    q.deallocate()
    k.deallocate()
    v.deallocate()
    o.deallocate()
  }
}
