/// The work items of a prefill call and what the partitioner needs to know of them: their home
/// node and estimated cost. Shared by `Attention` (which runs them) and `ScheduleSimulator`
/// (which replays the same partition on virtual machines), so the simulator measures the
/// partitioner that actually runs.
///
/// Item `i` is (batch b, query head h, query tile t) with `i = (b·H + h)·tiles + t`. Its home is
/// the node of its head group (b, kv head): the group's K/V are read by every item of the group
/// and live on that node.
struct PrefillPlan: Sendable {
  let shape: AttentionShape
  let mask: AttentionMask
  let queryTile: Int
  let tiles: Int
  /// Estimated FLOPs of each query tile under the dense mask (the same for every head).
  let tileCost: [Double]
  /// Block-sparse layouts scale a tile's cost by the fraction of key blocks it keeps.
  let sparse: BlockSparseMask?

  init(shape: AttentionShape, mask: AttentionMask, queryTile: Int, sparse: BlockSparseMask? = nil) {
    self.shape = shape
    self.mask = mask
    self.sparse = sparse
    self.queryTile = queryTile
    tiles = (shape.queryLength + queryTile - 1) / queryTile
    // 2·D (Q·Kᵀ) + 2·Dv (P·V) per visible (query, key) pair, plus packing Q and writing O
    // (≈ 4·(D + Dv) per row) so a fully masked tile still costs something.
    let perPair = Double(2 * (shape.headDim + shape.valueDim))
    let perRow = Double(4 * (shape.headDim + shape.valueDim))
    tileCost = (0..<tiles).map { [shape, mask, queryTile] t in
      let r0 = t * queryTile
      let r1 = min(r0 + queryTile, shape.queryLength)
      var pairs = 0
      for r in r0..<r1 {
        pairs +=
          mask.visibleKeys(query: r, queryLength: shape.queryLength, keyLength: shape.keyLength)
          .count
      }
      return Double(pairs) * perPair + Double(r1 - r0) * perRow
    }
  }

  var itemCount: Int { tiles * shape.batch * shape.queryHeads }
  /// Estimated FLOPs of the whole call (dense mask: sparse layouts only lower it).
  var totalCost: Double { tileCost.reduce(0, +) * Double(shape.batch * shape.queryHeads) }

  /// (batch, query head, tile) of item `i`.
  func item(_ i: Int) -> (batch: Int, head: Int, tile: Int) {
    let bh = i / tiles
    return (bh / shape.queryHeads, bh % shape.queryHeads, i % tiles)
  }

  func cost(_ i: Int) -> Double {
    let dense = tileCost[i % tiles]
    guard let sparse, sparse.keyBlocks > 0 else { return dense }
    let (_, h, t) = item(i)
    let head = sparse.heads == 1 ? 0 : h
    guard head < sparse.heads, t < sparse.queryBlocks else { return dense }
    let kept = (0..<sparse.keyBlocks).count {
      sparse.isKept(head: head, queryBlock: t, keyBlock: $0)
    }
    return dense * Double(kept) / Double(sparse.keyBlocks)
  }

  /// The node position of item `i` on a machine of `nodes` nodes.
  func home(_ i: Int, nodes: Int) -> Int {
    let (b, h, _) = item(i)
    let group = b * shape.kvHeads + shape.kvHead(forQueryHead: h)
    return WorkPartition.homeNode(group: group, groups: shape.batch * shape.kvHeads, nodes: nodes)
  }

  /// The partition of these items over `topology`'s nodes.
  func partition(distances: [[Int]]) -> WorkPartition {
    let nodes = distances.count
    return WorkPartition(
      itemCount: itemCount, distances: distances, home: { home($0, nodes: nodes) },
      cost: { cost($0) })
  }
}
