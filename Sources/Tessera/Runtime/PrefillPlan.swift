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

  init(
    shape: AttentionShape, mask: AttentionMask, queryTile: Int, sparse: BlockSparseMask? = nil,
    ragged: RaggedBatch? = nil
  ) {
    self.shape = shape
    self.mask = mask
    self.sparse = sparse
    self.queryTile = queryTile
    // A ragged call's batch entries are its sequences; each has its own length, and the items of
    // tiles past a short sequence's end cost nothing (the kernel returns at once).
    var lengths: [(query: Int, key: Int)] = [(shape.queryLength, shape.keyLength)]
    if let ragged {
      lengths = []
      for s in 0..<ragged.sequences {
        let query = ragged.queryOffsets[s + 1] - ragged.queryOffsets[s]
        let key = ragged.keyOffsets[s + 1] - ragged.keyOffsets[s]
        lengths.append((query, key))
      }
    }
    batches = ragged?.sequences ?? shape.batch
    tiles = max(1, ((lengths.map(\.query).max() ?? 0) + queryTile - 1) / queryTile)
    // 2·D (Q·Kᵀ) + 2·Dv (P·V) per visible (query, key) pair, plus packing Q and writing O
    // (≈ 4·(D + Dv) per row) so a fully masked tile still costs something.
    let perPair = Double(2 * (shape.headDim + shape.valueDim))
    let perRow = Double(4 * (shape.headDim + shape.valueDim))
    tileCost = lengths.flatMap { [tiles, mask, queryTile] length in
      (0..<tiles).map { t in
        let r0 = t * queryTile
        let r1 = min(r0 + queryTile, length.query)
        var pairs = 0
        for r in r0..<max(r0, r1) {
          pairs +=
            mask.visibleKeys(query: r, queryLength: length.query, keyLength: length.key).count
        }
        return Double(pairs) * perPair + Double(max(0, r1 - r0)) * perRow
      }
    }
  }

  /// Batch entries: the batch size, or a ragged call's sequence count.
  let batches: Int

  var itemCount: Int { tiles * batches * shape.queryHeads }
  /// Estimated FLOPs of the whole call (dense mask: sparse layouts only lower it).
  var totalCost: Double {
    let perHead = tileCost.reduce(0, +)
    return perHead * Double(shape.queryHeads * (tileCost.count == tiles ? batches : 1))
  }

  /// (batch, query head, tile) of item `i`.
  func item(_ i: Int) -> (batch: Int, head: Int, tile: Int) {
    let bh = i / tiles
    return (bh / shape.queryHeads, bh % shape.queryHeads, i % tiles)
  }

  func cost(_ i: Int) -> Double {
    let (b, _, t) = item(i)
    let dense = tileCost.count == tiles ? tileCost[t] : tileCost[b * tiles + t]
    guard let sparse, sparse.keyBlocks > 0 else { return dense }
    let h = item(i).head
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
    return WorkPartition.homeNode(group: group, groups: batches * shape.kvHeads, nodes: nodes)
  }

  /// The partition of these items over `topology`'s nodes.
  func partition(distances: [[Int]]) -> WorkPartition {
    let nodes = distances.count
    return WorkPartition(
      itemCount: itemCount, distances: distances, home: { home($0, nodes: nodes) },
      cost: { cost($0) })
  }
}
