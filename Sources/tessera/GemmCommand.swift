import ArgumentParser
import Foundation
import Tessera

/// `tessera gemm`: times the packed SGEMM of the layers on random matrices.
struct GemmCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "gemm",
    abstract: "Time the SGEMM (C = A·op(B)) on random matrices.",
    discussion: """
      Reports GFLOP/s (2·M·N·K per call) at the median time and as a fraction of the FMA peak \
      measured in the same run on the same thread count. On a shared machine the peak is \
      probed right before every timed call, and the fraction reported is the median of the \
      per-call ratios (each ratio compares two numbers taken under the same load). \
      --transpose-b times x·Wᵀ (B stored N×K, as the attention layer's projections).
      """)

  @Option(help: "Rows of A and C.") var m = 4096
  @Option(help: "Columns of B and C.") var n = 4096
  @Option(help: "Columns of A, rows of B (the contraction).") var k = 4096
  @Flag(help: "B is stored N×K (x·Wᵀ).") var transposeB = false
  @Option(help: "Worker threads.") var threads = 1
  @Option(help: "Timed iterations.") var iterations = 3
  @Option(help: "Untimed iterations first.") var warmup = 1
  @Option(help: "Rows of A per packed block (MC).") var mc: Int?
  @Option(help: "Depth of a packed slice (KC).") var kc: Int?
  @Option(help: "Columns of B per packed panel (NC).") var nc: Int?
  @Flag(inversion: .prefixedNo, help: "Measure the FMA peak in the same run.") var peak = true
  @Flag(help: "Print one JSON object instead of text.") var json = false

  func validate() throws {
    if m < 1 || n < 1 || k < 1 { throw ValidationError("--m, --n and --k must be positive") }
    if threads < 1 { throw ValidationError("--threads must be positive") }
    if iterations < 1 { throw ValidationError("--iterations must be at least 1") }
    if warmup < 0 { throw ValidationError("--warmup must be non-negative") }
  }

  func run() throws {
    try Console.reportingErrors { try execute() }
  }

  struct Report: Encodable {
    var m: Int
    var n: Int
    var k: Int
    var transposeB: Bool
    var threads: Int
    var blocking: String
    var medianMs: Double
    var minMs: Double
    var timesMs: [Double]
    var gflops: Double
    var gflopsBest: Double
    var peakGflops: Double?
    var peakFraction: Double?
    /// Median over calls of (call GFLOP/s) / (peak probed right before it).
    var pairedFraction: Double?
    var isa: [String]
  }

  private func execute() throws {
    let defaults = GemmBlocking.default
    let blocking = GemmBlocking(
      mc: mc ?? defaults.mc, kc: kc ?? defaults.kc, nc: nc ?? defaults.nc)
    let options = GemmOptions(threads: threads, blocking: blocking)
    let bytes = 4 * (Double(m) * Double(k) + Double(k) * Double(n) + Double(m) * Double(n))
    try Console.requireMemory(bytes, for: "A, B and C")
    var random = SeededRandom(seed: 7)
    let a = random.floats(m * k)
    let b = random.floats(k * n)
    var c = [Float](repeating: 0, count: m * n)
    let call = { (c: inout [Float]) throws in
      try Gemm.sgemm(
        m: m, n: n, k: k, a: a, b: b, transposeB: transposeB, c: &c, options: options)
    }
    for _ in 0..<warmup { try call(&c) }
    var samples: [Double] = []
    var peaks: [Double] = []
    var ratios: [Double] = []
    let flops = Gemm.flops(m: m, n: n, k: k)
    for _ in 0..<iterations {
      if peak {
        let p = PeakProbe.fmaGFLOPS(threads: threads, seconds: 0.05, repeats: 2)
        peaks.append(p)
      }
      let t = try Stopwatch.seconds { try call(&c) }
      samples.append(t)
      if let p = peaks.last { ratios.append(flops / t / 1e9 / p) }
    }
    let peakGFLOPS = peak ? TimingSummary(samples: peaks).median : nil
    let timing = TimingSummary(samples: samples)
    let gflops = flops / timing.median / 1e9
    let report = Report(
      m: m, n: n, k: k, transposeB: transposeB, threads: threads, blocking: "\(blocking)",
      medianMs: timing.median * 1e3, minMs: timing.min * 1e3,
      timesMs: samples.map { $0 * 1e3 }, gflops: gflops, gflopsBest: flops / timing.min / 1e9,
      peakGflops: peakGFLOPS, peakFraction: peakGFLOPS.map { gflops / $0 },
      pairedFraction: ratios.isEmpty ? nil : TimingSummary(samples: ratios).median,
      isa: BuildInfo.compiled.names)
    if json {
      let encoder = JSONEncoder()
      encoder.keyEncodingStrategy = .convertToSnakeCase
      encoder.outputFormatting = [.sortedKeys]
      print(String(decoding: try encoder.encode(report), as: UTF8.self))
      return
    }
    var lines = [
      "gemm     M=\(m) N=\(n) K=\(k)\(transposeB ? " (B transposed)" : "") \(blocking)"
        + " threads=\(threads)",
      "time     median \(Console.fixed(report.medianMs, 3)) ms, min"
        + " \(Console.fixed(report.minMs, 3)) ms over \(iterations) iterations",
      "rate     \(Console.fixed(gflops)) GFLOP/s at the median,"
        + " \(Console.fixed(report.gflopsBest)) at the min",
    ]
    if let peakGFLOPS {
      lines.append(
        "peak     FMA \(Console.fixed(peakGFLOPS, 1)) GFLOP/s (median probe) on \(threads)"
          + " thread(s): \(Console.fixed(gflops / peakGFLOPS * 100, 1))% of peak; paired"
          + " per call: median \(Console.fixed((report.pairedFraction ?? 0) * 100, 1))%,"
          + " per-call \(ratios.map { Console.fixed($0 * 100, 1) }.joined(separator: " "))")
    }
    if let warning = BuildInfo.warning { lines.append("warning  \(warning)") }
    print(lines.joined(separator: "\n"))
  }
}
