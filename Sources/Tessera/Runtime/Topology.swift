/// The NUMA shape of the machine as the runtime sees it: nodes, the CPUs of each, and the
/// distances between them.
///
/// `Topology.current()` reads libnuma, then sysfs, then assumes one node; tests build fake
/// topologies with the memberwise initializer (for example two nodes of one CPU each on a
/// 2-core machine) so every NUMA code path runs on single-node CI.
public struct Topology: Hashable, Sendable, CustomStringConvertible {
  /// A NUMA node id as the kernel numbers them (`/sys/devices/system/node/node<id>`). Ids may
  /// have gaps (offline or memory-only nodes), so an id is not an index into `nodes`.
  public struct NodeID: RawRepresentable, Hashable, Comparable, Sendable,
    ExpressibleByIntegerLiteral, CustomStringConvertible
  {
    public var rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    public init(_ rawValue: Int) { self.rawValue = rawValue }
    public init(integerLiteral value: Int) { rawValue = value }
    public static func < (a: NodeID, b: NodeID) -> Bool { a.rawValue < b.rawValue }
    public var description: String { "node\(rawValue)" }
  }

  /// One node with CPUs. Memory-only nodes (CXL, HBM) are left out: no work can run on them.
  public struct Node: Hashable, Sendable {
    public var id: NodeID
    /// Logical CPU numbers (as `sched_setaffinity` takes them), ascending.
    public var cpus: [Int]

    public init(id: NodeID, cpus: [Int]) {
      self.id = id
      self.cpus = cpus
    }
  }

  /// Where a topology came from.
  public enum Source: String, Hashable, Sendable {
    case libnuma
    case sysfs
    /// No NUMA information: one node with every CPU.
    case singleNode
    /// Built by a caller (tests, or a deliberately restricted runtime).
    case injected
  }

  /// Nodes with at least one CPU, ascending by id.
  public var nodes: [Node]
  /// `distances[i][j]`: the ACPI SLIT distance from `nodes[i]` to `nodes[j]`, indexed by
  /// position in `nodes`, not by id. 10 means local; remote nodes are typically 16–32, i.e.
  /// 1.6–3.2× the local memory latency.
  public var distances: [[Int]]
  public var source: Source

  /// The SLIT values the kernel reports when firmware gives none: 10 local, 20 remote.
  public static let localDistance = 10
  public static let remoteDistance = 20

  /// A topology from explicit nodes. Without `distances`, every remote pair gets
  /// `remoteDistance`. Use `validate()` to check an injected topology.
  public init(nodes: [Node], distances: [[Int]]? = nil, source: Source = .injected) {
    self.nodes = nodes
    self.distances =
      distances
      ?? nodes.indices.map { i in
        nodes.indices.map { j in i == j ? Self.localDistance : Self.remoteDistance }
      }
    self.source = source
  }

  /// One node holding CPUs `0..<cpuCount`.
  public static func singleNode(cpuCount: Int) -> Topology {
    Topology(nodes: [Node(id: 0, cpus: Array(0..<max(1, cpuCount)))], source: .singleNode)
  }

  /// Every CPU of every node, ascending.
  public var cpus: [Int] { nodes.flatMap(\.cpus).sorted() }

  public var cpuCount: Int { nodes.reduce(0) { $0 + $1.cpus.count } }

  /// The node whose CPUs include `cpu`.
  public func node(ofCPU cpu: Int) -> Node? { nodes.first { $0.cpus.contains(cpu) } }

  /// Distance between two nodes by id, `nil` when either is not in the topology.
  public func distance(from a: NodeID, to b: NodeID) -> Int? {
    guard let i = nodes.firstIndex(where: { $0.id == a }),
      let j = nodes.firstIndex(where: { $0.id == b })
    else { return nil }
    return distances[i][j]
  }

  /// The topology limited to `allowed` CPUs (the process's affinity mask, a cpuset): nodes left
  /// without CPUs are dropped with their rows and columns of `distances`.
  public func restricted(to allowed: Set<Int>) -> Topology {
    let kept = nodes.indices.filter { i in nodes[i].cpus.contains(where: allowed.contains) }
    var result = self
    result.nodes = kept.map { i in
      Node(id: nodes[i].id, cpus: nodes[i].cpus.filter(allowed.contains))
    }
    result.distances = kept.map { i in kept.map { j in distances[i][j] } }
    return result
  }

  public var description: String {
    let list = nodes.map { "\($0.id): cpus \(Self.formatCPUList($0.cpus))" }
    return "\(nodes.count) node(s) [\(source.rawValue)] " + list.joined(separator: "; ")
  }
}
