import ArgumentParser
import Foundation
import Tessera

/// `tessera info`: what was compiled in, what the machine has, and (optionally) what it can do.
struct InfoCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "info",
    abstract: "Show the build's instruction set, the CPU, NUMA nodes and tile defaults.")

  @Flag(help: "Measure FMA GFLOP/s (1 and all threads) and triad GB/s (a few seconds).")
  var peak = false

  func run() throws {
    let topology = Topology.current()
    let cpus = ProcessInfo.processInfo.activeProcessorCount
    var lines: [String] = []
    func row(_ key: String, _ value: String) {
      lines.append(key.padding(toLength: 11, withPad: " ", startingAt: 0) + value)
    }
    row("build", "\(BuildInfo.architecture), compiled for: \(BuildInfo.compiled)")
    row("cpu", BuildInfo.cpuBrand)
    row("cpu has", "\(BuildInfo.runtime)")
    if let warning = BuildInfo.warning { row("warning", warning) }
    row(
      "cpus",
      "\(cpus) available to this process, \(ProcessInfo.processInfo.processorCount) configured")
    row("numa", "\(topology.nodes.count) node(s), from \(topology.source.rawValue)")
    for node in topology.nodes {
      row("", "\(node.id): cpus \(Topology.formatCPUList(node.cpus)) (\(node.cpus.count))")
    }
    row("distances", topology.nodes.map { "\($0.id)" }.joined(separator: " "))
    for (i, node) in topology.nodes.enumerated() {
      let cells = topology.distances[i].enumerated().map { j, d in
        "\(d)".padding(toLength: "\(topology.nodes[j].id)".count, withPad: " ", startingAt: 0)
      }
      row("  \(node.id)", cells.joined(separator: " "))
    }
    let tiles = TileConfig.default
    row(
      "tiles",
      "\(tiles) (micro-tile \(TileConfig.microQueries)×\(TileConfig.microColumns)), threads"
        + " default \(AttentionOptions().threads)")
    row("storage", Attention.supportedScalarTypes.map(\.rawValue).joined(separator: ", "))
    print(lines.joined(separator: "\n"))
    if peak { printPeak(threads: cpus) }
  }

  private func printPeak(threads: Int) {
    let f1 = PeakProbe.fmaGFLOPS(threads: 1)
    let fn = PeakProbe.fmaGFLOPS(threads: threads)
    print(
      "fma peak   \(Console.fixed(f1, 1)) GFLOP/s on 1 thread, \(Console.fixed(fn, 1)) on"
        + " \(threads) (\(Console.fixed(fn / f1))×)")
    let b1 = PeakProbe.triadGBps(threads: 1)
    let bn = PeakProbe.triadGBps(threads: threads)
    print(
      "triad      \(Console.fixed(b1, 1)) GB/s on 1 thread, \(Console.fixed(bn, 1)) on"
        + " \(threads)")
  }
}
