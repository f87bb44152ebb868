/// Replays the runtime's partitioner on a virtual machine (cores grouped into nodes) with a
/// per-item cost model, to see the load balance it reaches on machines larger than this one.
///
/// Each virtual core is a worker slot on a node; whenever one is free it claims the next item
/// exactly as a real worker does (`WorkClaims.claim`: own node's queue, longest first, then the
/// nearest node with work), and is busy for the item's cost. Costs come from the mask's
/// visible (query, key) pairs (`PrefillPlan`), a fixed per-item overhead, and a penalty for
/// items that run away from their K/V's node.
public enum ScheduleSimulator {
  /// The virtual machine.
  public struct Machine: Hashable, Sendable, CustomStringConvertible {
    public var cores: Int
    public var nodes: Int
    /// SLIT distance between two different nodes (10 is local).
    public var remoteDistance: Int

    public init(cores: Int, nodes: Int, remoteDistance: Int = 20) {
      self.cores = max(1, cores)
      self.nodes = max(1, min(nodes, cores))
      self.remoteDistance = remoteDistance
    }

    /// The machine as a fake topology: cores split evenly, node i gets cores
    /// i·C/N ..< (i+1)·C/N.
    public var topology: Topology {
      Topology(
        nodes: (0..<nodes).map { n in
          Topology.Node(id: .init(n), cpus: Array(n * cores / nodes..<(n + 1) * cores / nodes))
        },
        distances: (0..<nodes).map { i in (0..<nodes).map { j in i == j ? 10 : remoteDistance } })
    }

    public var description: String { "\(cores) cores / \(nodes) nodes" }
  }

  /// Time of an item on a core.
  public struct CostModel: Hashable, Sendable {
    /// Kernel FLOP/s of one core (Zen 3, AVX2: ≈ 30 GFLOP/s measured on the Q·Kᵀ tile).
    public var flopsPerSecond: Double
    /// Seconds per item beyond its FLOPs: claiming it, packing, cache misses at its start.
    public var itemOverhead: Double
    /// Extra time, as a fraction of the item, per 10 units of SLIT distance beyond local when an
    /// item runs on another node than its K/V (attention re-reads K/V from L2, so remote memory
    /// costs far less than its 2× latency: 0.1 means +10 % at distance 20).
    public var remotePenalty: Double

    public init(
      flopsPerSecond: Double = 30e9, itemOverhead: Double = 2e-6, remotePenalty: Double = 0.1
    ) {
      self.flopsPerSecond = flopsPerSecond
      self.itemOverhead = itemOverhead
      self.remotePenalty = remotePenalty
    }
  }

  public struct Report: Hashable, Sendable, CustomStringConvertible {
    public var machine: Machine
    public var items: Int
    /// Time until the last core finishes.
    public var makespan: Double
    /// Sum of every item's local cost (what a perfect machine would divide by the cores).
    public var work: Double
    /// work / (cores · makespan): 1 is perfect balance with no remote penalty.
    public var efficiency: Double
    /// Fraction of items that ran away from their home node.
    public var stolen: Double

    public var description: String {
      let pct = (efficiency * 10000).rounded() / 100
      let st = (stolen * 10000).rounded() / 100
      return "\(machine): \(items) items, efficiency \(pct) %, stolen \(st) %"
    }
  }

  /// Simulates prefill of `shape` under `mask` with query tiles of `queryTile` rows.
  public static func prefill(
    shape: AttentionShape, mask: AttentionMask, queryTile: Int = TileConfig.default.queryTile,
    machine: Machine, model: CostModel = CostModel()
  ) -> Report {
    let plan = PrefillPlan(shape: shape, mask: mask, queryTile: queryTile)
    let topology = machine.topology
    let partition = plan.partition(distances: topology.distances)
    let claims = WorkClaims(partition)
    let coreNode = topology.nodes.indices.flatMap { n in
      Array(repeating: n, count: topology.nodes[n].cpus.count)
    }
    var heap = MinHeap()
    for core in coreNode.indices { heap.push(0, core) }
    var makespan = 0.0
    var work = 0.0
    var stolen = 0
    while let (time, core) = heap.pop() {
      let node = coreNode[core]
      guard let item = claims.claim(node: node) else {
        makespan = max(makespan, time)
        continue
      }
      let local = plan.cost(item) / model.flopsPerSecond + model.itemOverhead
      let home = plan.home(item, nodes: topology.nodes.count)
      var cost = local
      if home != node {
        stolen += 1
        let extra = Double(topology.distances[node][home] - 10) / 10
        cost *= 1 + model.remotePenalty * extra
      }
      work += local
      heap.push(time + cost, core)
    }
    return Report(
      machine: machine, items: plan.itemCount, makespan: makespan, work: work,
      efficiency: makespan > 0 ? work / (Double(machine.cores) * makespan) : 1,
      stolen: plan.itemCount > 0 ? Double(stolen) / Double(plan.itemCount) : 0)
  }

  /// A binary min-heap of (time, core), ties broken by core so runs are reproducible.
  struct MinHeap {
    private var a: [(Double, Int)] = []

    private static func less(_ x: (Double, Int), _ y: (Double, Int)) -> Bool {
      x.0 != y.0 ? x.0 < y.0 : x.1 < y.1
    }

    mutating func push(_ t: Double, _ c: Int) {
      a.append((t, c))
      var i = a.count - 1
      while i > 0 {
        let p = (i - 1) / 2
        if !Self.less(a[i], a[p]) { break }
        a.swapAt(i, p)
        i = p
      }
    }

    mutating func pop() -> (Double, Int)? {
      guard let top = a.first else { return nil }
      let last = a.removeLast()
      if !a.isEmpty {
        a[0] = last
        var i = 0
        while true {
          let l = 2 * i + 1
          let r = l + 1
          var m = i
          if l < a.count, Self.less(a[l], a[m]) { m = l }
          if r < a.count, Self.less(a[r], a[m]) { m = r }
          if m == i { break }
          a.swapAt(i, m)
          i = m
        }
      }
      return top
    }
  }
}
