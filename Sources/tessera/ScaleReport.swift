import Foundation
import Tessera

/// The machine a sweep ran on, recorded with its results.
struct ScaleMachine: Codable {
  var cpuModel: String
  var architecture: String
  var cores: Int
  var workers: Int
  var numaNodes: Int
  var nodes: [String]
  var topologySource: String
  var buildISA: [String]
  var cpuISA: [String]
  var buildWarning: String?

  init(topology: Topology, runtime: Runtime) {
    cpuModel = BuildInfo.cpuBrand
    architecture = BuildInfo.architecture
    cores = ProcessInfo.processInfo.activeProcessorCount
    workers = runtime.workerCount
    numaNodes = topology.nodes.count
    nodes = topology.nodes.map {
      "\($0.id): cpus \($0.cpus.map(String.init).joined(separator: ","))"
    }
    topologySource = topology.source.rawValue
    buildISA = BuildInfo.compiled.names
    cpuISA = BuildInfo.runtime.names
    buildWarning = BuildInfo.warning
  }

  var summary: String {
    "\(cpuModel), \(cores) cores, \(numaNodes) NUMA node\(numaNodes == 1 ? "" : "s"),"
      + " build ISA \(buildISA.isEmpty ? "generic" : buildISA.joined(separator: "+"))"
  }
}

/// Text, CSV, JSON and SVG renderings of a sweep.
enum ScaleReport {
  /// The readable table: one row per run, problems in sweep order, a blank line between them.
  static func table(
    _ runs: [ScaleRun], phase: ScalePhase, mode: ScaleMode, machine: ScaleMachine
  ) -> String {
    var header = ["threads", "problem", "median ms", "GFLOP/s", "% peak", "speedup", "effic."]
    if phase == .decode { header += ["GB/s", "% triad"] }
    var rows: [[String]] = []
    var previous: String?
    for r in runs {
      if let previous, previous != r.series { rows.append([]) }
      previous = r.series
      var row = [
        "\(r.threads)", r.problem, Console.fixed(r.medianS * 1e3, 3), Console.fixed(r.gflops, 1),
        r.peakFraction.map { Console.fixed(100 * $0, 1) } ?? "-",
        Console.fixed(r.speedup, 2) + "×", Console.fixed(100 * r.efficiency, 0) + " %",
      ]
      if phase == .decode {
        row += [
          r.gbps.map { Console.fixed($0, 1) } ?? "-",
          r.bandwidthFraction.map { Console.fixed(100 * $0, 1) } ?? "-",
        ]
      }
      rows.append(row)
    }
    // Column widths by character count; numbers right-aligned, the problem left-aligned.
    var widths = header.map(\.count)
    for row in rows where !row.isEmpty {
      for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) }
    }
    func line(_ cells: [String]) -> String {
      cells.enumerated().map { i, cell in
        let pad = String(repeating: " ", count: widths[i] - cell.count)
        return i == 1 ? cell + pad : pad + cell
      }.joined(separator: "  ")
    }
    var out = [
      "\(phase.rawValue) \(mode.rawValue) scaling on \(machine.summary)",
      "speedup: against the fewest threads of the same problem; % peak: FMA peak measured on"
        + " the same thread count"
        + (phase == .decode ? "; % triad: same-run triad bandwidth" : ""),
      "", line(header), line(widths.map { String(repeating: "-", count: $0) }),
    ]
    out += rows.map { $0.isEmpty ? "" : line($0) }
    return out.joined(separator: "\n")
  }

  static let csvColumns = [
    "phase", "mode", "problem", "batch", "heads", "kv_heads", "seq", "kv_seq", "dim", "mask",
    "dtype", "threads", "executor", "iterations", "median_s", "min_s", "flops", "gflops",
    "peak_gflops", "peak_fraction", "bytes_read", "gbps", "triad_gbps", "bandwidth_fraction",
    "speedup", "efficiency",
  ]

  /// One row per run; empty cells where a figure was not measured.
  static func csv(_ runs: [ScaleRun]) -> String {
    func field(_ s: String) -> String {
      s.contains(where: { ",\"\n".contains($0) })
        ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }
    func number(_ x: Double?) -> String { x.map { "\($0)" } ?? "" }
    var lines = [csvColumns.joined(separator: ",")]
    for r in runs {
      let cells: [String] = [
        r.phase, r.mode, field(r.problem), "\(r.batch)", "\(r.heads)", "\(r.kvHeads)", "\(r.seq)",
        "\(r.kvSeq)", "\(r.dim)", r.mask, r.dtype, "\(r.threads)", r.executor, "\(r.iterations)",
        number(r.medianS), number(r.minS), number(r.flops), number(r.gflops),
        number(r.peakGflops), number(r.peakFraction), number(r.bytesRead), number(r.gbps),
        number(r.triadGbps), number(r.bandwidthFraction), number(r.speedup),
        number(r.efficiency),
      ]
      lines.append(cells.joined(separator: ","))
    }
    return lines.joined(separator: "\n") + "\n"
  }

  struct Document: Encodable {
    var tool = "tessera scale"
    var date: String
    var machine: ScaleMachine
    var config: [String: String]
    var runs: [ScaleRun]
  }

  static func json(_ runs: [ScaleRun], machine: ScaleMachine, command c: ScaleCommand) throws
    -> Data
  {
    let config: [String: String] = [
      "phase": c.phase.rawValue, "mode": c.mode.rawValue, "iterations": "\(c.iterations)",
      "warmup": "\(c.warmup)", "executor": (c.executor ?? .default).rawValue,
      "placement": c.placement.rawValue, "nodes": c.nodes ?? "all", "seed": "\(c.seed)",
      "split": "\(c.split)",
    ]
    let doc = Document(
      date: ISO8601DateFormatter().string(from: Date()), machine: machine, config: config,
      runs: runs)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    encoder.keyEncodingStrategy = .convertToSnakeCase
    return try encoder.encode(doc)
  }

  /// Speedup against threads, one curve per problem, the ideal (speedup = threads) dashed.
  static func plot(
    _ runs: [ScaleRun], phase: ScalePhase, mode: ScaleMode, machine: ScaleMachine
  ) -> String {
    var order: [String] = []
    var points: [String: [(x: Double, y: Double)]] = [:]
    for r in runs {
      if points[r.series] == nil { order.append(r.series) }
      points[r.series, default: []].append((Double(r.threads), r.speedup))
    }
    let maxThreads = Double(runs.map(\.threads).max() ?? 1)
    var series = [
      SVGPlot.Series(
        name: "ideal (speedup = threads)", points: [(0, 0), (maxThreads, maxThreads)], dashed: true)
    ]
    series += order.map { SVGPlot.Series(name: $0, points: points[$0] ?? []) }
    let executor = runs.first?.executor ?? ExecutorKind.default.rawValue
    return SVGPlot(
      title: "Tessera \(phase.rawValue) \(mode.rawValue) scaling",
      subtitle: "\(machine.summary); executor \(executor)",
      xLabel: "threads",
      yLabel: mode == .weak ? "scaled speedup (throughput ratio)" : "speedup vs 1 thread",
      series: series
    ).render()
  }
}
