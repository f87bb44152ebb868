import ArgumentParser
import Foundation
import Tessera

/// `--phase` of `tessera scale`.
enum ScalePhase: String, CaseIterable, ExpressibleByArgument {
  case prefill, decode
}

/// `--mode` of `tessera scale`.
enum ScaleMode: String, CaseIterable, ExpressibleByArgument {
  /// The same problem on every thread count.
  case strong
  /// The problem grows with the thread count: heads × threads.
  case weak
}

/// `--mask` values of `tessera scale`.
enum ScaleMask: String, CaseIterable, ExpressibleByArgument {
  case none, causal

  var mask: AttentionMask { self == .causal ? .causal : .none }
}

/// `--placement` of `tessera scale`.
enum PlacementArgument: String, CaseIterable, ExpressibleByArgument {
  /// Each head group's K/V on the node whose workers read it (the runtime's only policy).
  case local
  /// Pages spread round-robin over the nodes; not offered by the runtime yet.
  case interleave
}

/// A comma-separated list of positive integers (`--threads 1,2,4`).
struct IntList: ExpressibleByArgument, CustomStringConvertible {
  var values: [Int]

  init(_ values: [Int]) { self.values = values }

  init?(argument: String) {
    let parts = argument.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
    let values = parts.compactMap { Int($0) }
    guard !values.isEmpty, values.count == parts.count, values.allSatisfy({ $0 > 0 }) else {
      return nil
    }
    self.values = values
  }

  var description: String { values.map(String.init).joined(separator: ",") }
}

/// A comma-separated list of masks (`--mask none,causal`).
struct MaskList: ExpressibleByArgument {
  var values: [ScaleMask]

  init?(argument: String) {
    let parts = argument.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
    let values = parts.compactMap { ScaleMask(rawValue: $0) }
    guard !values.isEmpty, values.count == parts.count else { return nil }
    self.values = values
  }
}

/// `tessera scale`: sweeps thread counts over a set of problems and reports speedup and
/// parallel efficiency next to the machine's measured peak.
struct ScaleCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "scale",
    abstract: "Sweep thread counts (and shapes): speedup, efficiency, % of measured peak.",
    discussion: """
      Every problem (each --seq × --dim × mask for prefill, each --kv-seq × --dim for decode) \
      runs on every --threads count; the table reports the median time, GFLOP/s (4·D per \
      visible (query, key) pair), the fraction of the FMA peak measured on the same thread \
      count in the same run, the speedup against the smallest thread count (scaled to it: \
      with 1 in the list, against 1 thread) and the parallel efficiency (speedup / threads). \
      Decode also reports the K/V bytes read per second against a STREAM-like triad measured \
      on the same threads. --mode weak grows the problem with the threads (heads × threads), \
      so the speedup is the throughput ratio. Each call gets exactly the threads asked for \
      (the runtime's small-call cap is off), so small problems show what threads cost.
      Progress goes to stderr; --csv, --json, --plot (SVG) and --trace (Chrome/Perfetto) \
      write files.
      """)

  @Option(help: "Thread counts, e.g. 1,2,4; default: 1, 2, 4, … and every CPU.")
  var threads: IntList?
  @Option(help: "Query lengths (prefill), e.g. 1024,4096.") var seq = IntList([2048])
  @Option(help: "Cached tokens per sequence (decode), e.g. 8192,32768.")
  var kvSeq = IntList([32768])
  @Option(help: "Head dimensions, e.g. 64,128.") var dim = IntList([128])
  @Option(help: "Query heads (weak scaling: per thread).") var heads = 8
  @Option(help: "Key/value heads (GQA); default: --heads (weak: scaled likewise).")
  var kvHeads: Int?
  @Option(help: "Batch size (prefill) or sequences decoded together (decode).") var batch = 1
  @Flag(
    inversion: .prefixedNo,
    help: "Causal mask (prefill); --mask none,causal sweeps both. Default: no mask.")
  var causal: Bool?
  @Option(help: "Masks to sweep (prefill): none, causal or none,causal.") var mask: MaskList?
  @Option(help: "prefill (attention over the whole sequence) or decode (one token, KV cache).")
  var phase: ScalePhase = .prefill
  @Option(help: "strong (fixed problem) or weak (heads grow with threads).")
  var mode: ScaleMode = .strong
  @Option(help: "Storage of decode's cache and queries: f32, f16 or bf16 (prefill is f32).")
  var dtype: DecodeDTypeArgument = .f16
  @Option(help: "Decode: keys per split.") var split = DecodeOptions.defaultSplitSize
  @Option(help: "Timed iterations per point (the median is reported).") var iterations = 5
  @Option(help: "Untimed iterations first per point.") var warmup = 1
  @Option(help: "Executor: pinned or dispatch. Default: pinned.") var executor: ExecutorKind?
  @Option(
    help: """
      K/V placement: local (each head group's K/V on the node whose workers read it). \
      interleave is not offered by the runtime yet and is refused.
      """)
  var placement: PlacementArgument = .local
  @Option(help: "NUMA node ids to run on, e.g. 0,1; default: every node.") var nodes: String?
  @Flag(inversion: .prefixedNo, help: "Measure FMA peak (and decode's triad) per thread count.")
  var peak = true
  @Option(help: "Seed of the random inputs.") var seed: UInt64 = 42
  @Option(help: "Write one CSV row per run to FILE.") var csv: String?
  @Option(help: "Write runs and the machine as JSON to FILE.") var json: String?
  @Option(help: "Write an SVG plot of speedup against threads to FILE.") var plot: String?
  @Option(help: "Write a Chrome/Perfetto trace of the timed iterations to FILE.json.")
  var trace: String?

  func validate() throws {
    if iterations < 1 { throw ValidationError("--iterations must be at least 1") }
    if warmup < 0 { throw ValidationError("--warmup must be non-negative") }
    for (name, value) in [("--heads", heads), ("--batch", batch), ("--split", split)]
    where value < 1 {
      throw ValidationError("\(name) must be at least 1")
    }
    if let kvHeads, kvHeads < 1 || heads % kvHeads != 0 {
      throw ValidationError("--kv-heads must divide --heads")
    }
    if causal != nil && mask != nil {
      throw ValidationError("--causal/--no-causal and --mask are exclusive; use --mask")
    }
    if placement == .interleave {
      throw ValidationError(
        "--placement interleave: the runtime places each head group's K/V on its node (local)"
          + " and offers no interleaved policy yet; use --placement local")
    }
  }

  func run() throws {
    try Console.reportingErrors { try execute() }
  }

  /// Thread counts: as given, or 1, 2, 4, … up to the runtime's workers, plus that count.
  func threadCounts(workers: Int) -> [Int] {
    if let threads { return threads.values }
    var counts: [Int] = []
    var t = 1
    while t < workers {
      counts.append(t)
      t *= 2
    }
    return counts + [workers]
  }

  /// The machine's topology limited to `--nodes`.
  func topology() throws -> Topology {
    let all = Topology.current()
    guard let nodes else { return all }
    let ids = nodes.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
    var cpus: Set<Int> = []
    for id in ids {
      guard let n = Int(id), let node = all.nodes.first(where: { $0.id.rawValue == n }) else {
        throw CLIError(
          "--nodes: no node \(id) with CPUs here; nodes: "
            + all.nodes.map { String($0.id.rawValue) }.joined(separator: ","))
      }
      cpus.formUnion(node.cpus)
    }
    return all.restricted(to: cpus)
  }

  private func execute() throws {
    let topology = try topology()
    // Every call gets exactly the threads asked for: the small-call cap would otherwise make
    // a thread count of a small problem silently run on fewer workers.
    let runtime = Runtime(
      topology: topology, executor: executor ?? .default, minimumWorkPerWorker: 0)
    let counts = threadCounts(workers: runtime.workerCount)
    if let over = counts.first(where: { $0 > runtime.workerCount }) {
      Console.warning(
        "\(over) threads asked; the runtime has \(runtime.workerCount) workers (calls get at most"
          + " that many)")
    }
    let problems = ScaleProblem.sweep(self)
    let traceOutput = TraceOutput(path: trace)
    let total = problems.count * counts.count
    var runs: [ScaleRun] = []
    var peaks: [Int: Double] = [:]
    var triads: [Int: Double] = [:]
    let started = Date()
    for problem in problems {
      for t in counts {
        let sized = problem.scaled(threads: t, mode: mode)
        let index = runs.count + 1
        Console.progress(
          "[\(index)/\(total)] \(sized.label) on \(t) thread\(t == 1 ? "" : "s") …"
            + " (\(Console.fixed(Date().timeIntervalSince(started), 1)) s elapsed)")
        if peak && peaks[t] == nil {
          // Best of 6 short runs: on a shared machine one run of 3 can all land on a busy
          // moment, and a low peak would put the kernel above 100 %.
          peaks[t] = PeakProbe.fmaGFLOPS(threads: t, seconds: 0.05, repeats: 6)
        }
        if peak && phase == .decode && triads[t] == nil {
          triads[t] = PeakProbe.triadGBps(threads: t)
        }
        var run = try ScaleRunner(
          command: self, runtime: runtime, problem: sized, threads: t, trace: traceOutput
        ).measure()
        run.series = problem.label
        run.peakGflops = peaks[t]
        run.triadGbps = triads[t]
        runs.append(run)
      }
    }
    ScaleRun.computeSpeedups(&runs)
    Console.progress(
      "done: \(runs.count) runs in \(Console.fixed(Date().timeIntervalSince(started), 1)) s")

    let machine = ScaleMachine(topology: topology, runtime: runtime)
    print(ScaleReport.table(runs, phase: phase, mode: mode, machine: machine))
    if let csv {
      try Data(ScaleReport.csv(runs).utf8).write(to: URL(fileURLWithPath: csv))
      Console.progress("csv: \(runs.count) rows → \(csv)")
    }
    if let json {
      try ScaleReport.json(runs, machine: machine, command: self).write(
        to: URL(fileURLWithPath: json))
      Console.progress("json → \(json)")
    }
    if let plot {
      try Data(ScaleReport.plot(runs, phase: phase, mode: mode, machine: machine).utf8).write(
        to: URL(fileURLWithPath: plot))
      Console.progress("plot → \(plot)")
    }
    try traceOutput?.write()
  }
}

extension Console {
  /// A progress line on stderr (stdout stays the table).
  static func progress(_ message: String) {
    FileHandle.standardError.write(Data("\(message)\n".utf8))
  }
}
