/// What can be wrong with a topology built by hand.
public enum TopologyError: Error, Hashable, Sendable, CustomStringConvertible {
  case noNodes
  case nodeWithoutCPUs(Topology.NodeID)
  case duplicateNode(Topology.NodeID)
  case negativeCPU(node: Topology.NodeID, cpu: Int)
  case cpuInTwoNodes(cpu: Int, first: Topology.NodeID, second: Topology.NodeID)
  case distancesNotSquare(nodes: Int)
  case invalidDistance(from: Topology.NodeID, to: Topology.NodeID, value: Int)

  public var description: String {
    switch self {
    case .noNodes: "a topology needs at least one node"
    case .nodeWithoutCPUs(let id): "\(id) has no CPUs; expected at least one"
    case .duplicateNode(let id): "\(id) appears twice; node ids must be unique"
    case .negativeCPU(let id, let cpu): "\(id): CPU \(cpu) is negative"
    case .cpuInTwoNodes(let cpu, let a, let b): "CPU \(cpu) is in both \(a) and \(b)"
    case .distancesNotSquare(let n): "distances must be a \(n)×\(n) matrix, one row per node"
    case .invalidDistance(let a, let b, let v):
      "distance \(a)→\(b) is \(v); expected ≥ 1 (10 local by the ACPI convention)"
    }
  }
}

extension Topology {
  /// Checks an injected topology: unique nodes, each with CPUs, no CPU in two nodes, and a
  /// square matrix of positive distances.
  public func validate() throws(TopologyError) {
    if nodes.isEmpty { throw .noNodes }
    var owner: [Int: NodeID] = [:]
    var seen: Set<NodeID> = []
    for node in nodes {
      if !seen.insert(node.id).inserted { throw .duplicateNode(node.id) }
      if node.cpus.isEmpty { throw .nodeWithoutCPUs(node.id) }
      for cpu in node.cpus {
        if cpu < 0 { throw .negativeCPU(node: node.id, cpu: cpu) }
        if let first = owner[cpu] { throw .cpuInTwoNodes(cpu: cpu, first: first, second: node.id) }
        owner[cpu] = node.id
      }
    }
    if distances.count != nodes.count || distances.contains(where: { $0.count != nodes.count }) {
      throw .distancesNotSquare(nodes: nodes.count)
    }
    for i in nodes.indices {
      for j in nodes.indices where distances[i][j] < 1 {
        throw .invalidDistance(from: nodes[i].id, to: nodes[j].id, value: distances[i][j])
      }
    }
  }
}
