import Synchronization

/// How one call's work items are split across NUMA nodes: each item has a home node (the node
/// holding its head's K/V), each node has a queue of its items ordered longest first, and a
/// worker whose node runs dry steals from the nearest node that still has work.
///
/// The partition decides only *where and when* an item runs, never *how*: every item writes its
/// own outputs and computes them the same way on any thread, so the result is bitwise identical
/// for any thread count, executor, topology and schedule.
///
/// Longest first: causal prefill tile t of n sees (t+1)/n of the keys, so costs range 1…n. Run
/// in decreasing order, the last items to finish are the shortest (LPT scheduling, within
/// 4/3 of optimal and, with many more items than workers, within one short item of it).
struct WorkPartition: Sendable {
  let itemCount: Int
  /// `queues[n]`: item indices homed on node position `n`, longest first (ties by index).
  let queues: [[Int]]
  /// Total estimated cost homed on each node.
  let nodeCost: [Double]
  /// `stealOrder[n]`: the other node positions, nearest first (SLIT distance, then position).
  let stealOrder: [[Int]]

  /// - Parameters:
  ///   - home: the node position (index into `Topology.nodes`) of an item.
  ///   - cost: an item's estimated cost in any unit (visible pairs, FLOPs); only order and
  ///     ratios matter.
  init(
    itemCount: Int, distances: [[Int]], home: (Int) -> Int, cost: (Int) -> Double
  ) {
    let nodes = max(1, distances.count)
    self.itemCount = itemCount
    var queues = [[Int]](repeating: [], count: nodes)
    var costs = [Double](repeating: 0, count: itemCount)
    var nodeCost = [Double](repeating: 0, count: nodes)
    for i in 0..<itemCount {
      let n = min(max(home(i), 0), nodes - 1)
      costs[i] = cost(i)
      queues[n].append(i)
      nodeCost[n] += costs[i]
    }
    for n in 0..<nodes {
      queues[n].sort { a, b in costs[a] != costs[b] ? costs[a] > costs[b] : a < b }
    }
    self.queues = queues
    self.nodeCost = nodeCost
    stealOrder = (0..<nodes).map { n in
      (0..<nodes).filter { $0 != n }.sorted { a, b in
        let da = distances.indices.contains(n) ? distances[n][a] : 0
        let db = distances.indices.contains(n) ? distances[n][b] : 0
        return da != db ? da < db : a < b
      }
    }
  }

  var nodeCount: Int { queues.count }

  /// The home node position of a head group (a (batch, kv head) pair, whose K/V one node
  /// holds): contiguous blocks of groups per node, so with G ≥ N groups each node gets ⌊G/N⌋ or
  /// ⌈G/N⌉ of them, and with G < N the groups spread out (positions 0, N/G, 2N/G, …) and the
  /// nodes between them steal.
  static func homeNode(group: Int, groups: Int, nodes: Int) -> Int {
    guard groups > 0, nodes > 1 else { return 0 }
    return min(nodes - 1, group * nodes / groups)
  }
}

/// The claim state of one run of a `WorkPartition`: one atomic cursor per node queue. Owners and
/// thieves claim from the same cursor, so a queue's longest remaining item always goes next.
final class WorkClaims: Sendable {
  let partition: WorkPartition
  private let cursors: [Cursor]

  private final class Cursor: Sendable {
    let next = Atomic<Int>(0)
    // Keeps two nodes' cursors off one cache line (64 B) when allocated back to back.
    let padding: (Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0)
  }

  init(_ partition: WorkPartition) {
    self.partition = partition
    cursors = partition.queues.map { _ in Cursor() }
  }

  /// The next item for a worker on node position `node`: its own queue first, then the
  /// nearest node that still has work. `nil` when every queue is drained.
  func claim(node: Int) -> Int? {
    if let i = claim(queue: node) { return i }
    for victim in partition.stealOrder[node] {
      if let i = claim(queue: victim) { return i }
    }
    return nil
  }

  /// The next item of node position `n`'s queue, `nil` when it is drained.
  func claim(queue n: Int) -> Int? {
    let queue = partition.queues[n]
    if cursors[n].next.load(ordering: .relaxed) >= queue.count { return nil }
    let k = cursors[n].next.wrappingAdd(1, ordering: .relaxed).oldValue
    return k < queue.count ? queue[k] : nil
  }

  /// Items not yet claimed on node position `n`.
  func unclaimed(node n: Int) -> Int {
    max(0, partition.queues[n].count - cursors[n].next.load(ordering: .relaxed))
  }

  var hasUnclaimed: Bool { partition.queues.indices.contains { unclaimed(node: $0) > 0 } }
}
