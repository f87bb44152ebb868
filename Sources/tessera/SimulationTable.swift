import Tessera

/// The schedule simulator's load balance for a benchmark's shape on larger virtual machines
/// (`tessera bench --simulate`): the partitioner this machine runs, replayed on 32–256 cores in
/// 2–8 nodes.
enum SimulationTable {
  static let cores = [32, 64, 128, 256]
  static let nodes = [2, 4, 8]

  static func text(_ problem: AttentionProblem, queryTile: Int) -> String {
    var lines = [
      "simulate load balance (efficiency %, stolen %) of \(problem.shape) \(problem.mask):"
    ]
    lines.append(
      "  cores  "
        + nodes.map { "\($0) nodes".padding(toLength: 16, withPad: " ", startingAt: 0) }.joined())
    for c in cores {
      var row = "  \(c)".padding(toLength: 9, withPad: " ", startingAt: 0)
      for n in nodes {
        let r = ScheduleSimulator.prefill(
          shape: problem.shape, mask: problem.mask, queryTile: queryTile,
          machine: ScheduleSimulator.Machine(cores: c, nodes: n))
        let cell = "\(Console.fixed(r.efficiency * 100, 2)) (\(Console.fixed(r.stolen * 100, 1)))"
        row += cell.padding(toLength: 16, withPad: " ", startingAt: 0)
      }
      lines.append(row)
    }
    return lines.joined(separator: "\n")
  }
}
