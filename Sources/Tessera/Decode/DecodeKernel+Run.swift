import Foundation
import Synchronization

/// Everything a decode call's work items share, read-only except the partial results (each item
/// writes its own) and the per-group countdowns.
///
/// Work item i is (batch entry b, kv head h, split k); items of one group (b, h) are consecutive,
/// `groupFirst[g] ..< groupFirst[g] + groupCount[g]`, in split order. Item i writes its partial
/// state to `partialO + i·R·Dvp` ([R][Dvp] floats, normalized) and `partialLSE + i·R` (natural
/// log); the item that finishes a group last merges the group's partials in split order (plus
/// the sink, as a partial with O = 0) and writes O and LSE. Who merges never changes what is
/// merged or in which order, so the result is the same for any schedule. A group of one split
/// and no sink has nothing to merge: its item writes O and LSE directly.
final class DecodeOperands: @unchecked Sendable {
  let problem: DecodeProblem
  let map: KVRowMap
  let kvHeads: Int
  let group: Int  // G: query heads per kv head
  let rows: Int  // R = G·Sq
  let headDim: Int
  let valueDim: Int
  let depth: Int  // Dp
  let valueDepth: Int  // Dvp
  let splitSize: Int
  let factor: Float  // scale·log2 e
  let softcap2: Float
  let q: UnsafeRawPointer
  let o: UnsafeMutableRawPointer
  let lse: UnsafeMutablePointer<Float>?
  /// Per item: group index and split index (−1: an empty item for a group with no visible key).
  let itemGroup: [Int32]
  let itemSplit: [Int32]
  let groupFirst: [Int]
  let groupCount: [Int]
  let partialO: UnsafeMutablePointer<Float>
  let partialLSE: UnsafeMutablePointer<Float>
  let countdowns: [Countdown]

  final class Countdown: Sendable {
    let remaining: Atomic<Int>
    init(_ n: Int) { remaining = Atomic(n) }
  }

  init(
    problem: DecodeProblem, map: KVRowMap, kvHeads: Int, headDim: Int, valueDim: Int,
    splitSize: Int, q: UnsafeRawPointer, o: UnsafeMutableRawPointer,
    lse: UnsafeMutablePointer<Float>?
  ) {
    self.problem = problem
    self.map = map
    self.kvHeads = kvHeads
    group = problem.queryHeads / kvHeads
    rows = group * problem.queryLength
    self.headDim = headDim
    self.valueDim = valueDim
    depth = (headDim + 7) & ~7
    valueDepth = (valueDim + 7) & ~7
    self.splitSize = splitSize
    factor = (problem.scale ?? 1 / Float(headDim).squareRoot()) * log2e
    softcap2 = (problem.modifiers.softcap ?? 0) * log2e
    self.q = q
    self.o = o
    self.lse = lse
    var itemGroup: [Int32] = []
    var itemSplit: [Int32] = []
    var groupFirst: [Int] = []
    var groupCount: [Int] = []
    for b in 0..<problem.batch {
      let (lo, hi) = Self.unionRange(problem, length: map.lengths[problem.sequence(b)])
      for _ in 0..<kvHeads {
        groupFirst.append(itemGroup.count)
        let g = Int32(groupFirst.count - 1)
        if lo < hi {
          for k in (lo / splitSize)...((hi - 1) / splitSize) {
            itemGroup.append(g)
            itemSplit.append(Int32(k))
          }
        } else {
          itemGroup.append(g)
          itemSplit.append(-1)
        }
        groupCount.append(itemGroup.count - groupFirst.last!)
      }
    }
    self.itemGroup = itemGroup
    self.itemSplit = itemSplit
    self.groupFirst = groupFirst
    self.groupCount = groupCount
    partialO = .allocate(capacity: max(1, itemGroup.count * rows * valueDepth))
    partialLSE = .allocate(capacity: max(1, itemGroup.count * rows))
    countdowns = groupCount.map { Countdown($0) }
  }

  deinit {
    partialO.deallocate()
    partialLSE.deallocate()
  }

  var itemCount: Int { itemGroup.count }

  /// Keys any of the Sq rows of a sequence of `length` tokens sees: [lo, hi).
  static func unionRange(_ p: DecodeProblem, length: Int) -> (Int, Int) {
    var lo = Int.max
    var hi = 0
    for t in 0..<p.queryLength {
      let keys = p.mask.visibleKeys(query: t, queryLength: p.queryLength, keyLength: length)
      if !keys.isEmpty {
        lo = min(lo, keys.lowerBound)
        hi = max(hi, keys.upperBound)
      }
    }
    return lo < hi ? (lo, hi) : (0, 0)
  }

  /// Keys item `i` reads (for the partitioner's cost and the bandwidth report).
  func keyRange(item i: Int) -> Range<Int> {
    let k = Int(itemSplit[i])
    if k < 0 { return 0..<0 }
    let b = Int(itemGroup[i]) / kvHeads
    let (lo, hi) = Self.unionRange(problem, length: map.lengths[problem.sequence(b)])
    let start = max(lo, k * splitSize)
    let end = min(hi, (k + 1) * splitSize)
    return start..<max(start, end)
  }
}

extension DecodeKernel {
  /// Runs work item `i`: the partial attention of one (batch entry, kv head) group's R rows over
  /// one split of its keys; the group's last item also merges.
  /// With `continues`, the same worker runs item i + 1 (the group's next split) right after:
  /// the last tile asks for that split's first K rows (`DecodeChunks`).
  static func run(
    item i: Int, _ ops: DecodeOperands, scratch: DecodeScratch, continues: Bool = false
  ) {
    let p = ops.problem
    let map = ops.map
    let g = Int(ops.itemGroup[i])
    let b = g / ops.kvHeads
    let kvHead = g % ops.kvHeads
    let sequence = p.sequence(b)
    let length = map.lengths[sequence]
    let sq = p.queryLength
    let rows = ops.rows
    let bk = DecodeScratch.keyTile
    let stride = DecodeScratch.scoreStride

    // Row r = t·G + gq is token t of query head kvHead·G + gq.
    var minEnd = Int.max
    var maxStart = 0
    for r in 0..<rows {
      let t = r / ops.group
      let head = kvHead * ops.group + r % ops.group
      let keys = p.mask.visibleKeys(query: t, queryLength: sq, keyLength: length)
      scratch.rowStart[r] = keys.lowerBound
      scratch.rowEnd[r] = keys.upperBound
      minEnd = min(minEnd, keys.upperBound)
      maxStart = max(maxStart, keys.lowerBound)
      scratch.diagonal[r] = Float(p.mask.diagonal(query: t, queryLength: sq, keyLength: length))
      scratch.slopes2[r] = (p.modifiers.alibiSlopes?[head] ?? 0) * log2e
      scratch.rowMax[r] = -.infinity
      scratch.rowSum[r] = 0
    }
    scratch.acc.update(repeating: 0, count: rows * ops.valueDepth)
    let range = ops.keyRange(item: i)
    // Where the next-tile K prefetch stops: this split's end, or the next split's when this
    // worker runs it next.
    let prefetchEnd = continues ? ops.keyRange(item: i + 1).upperBound : range.upperBound
    if !range.isEmpty {
      packQueries(ops, batch: b, kvHead: kvHead, into: scratch.qHat)
      let changesScores = p.modifiers.softcap != nil || p.modifiers.alibiSlopes != nil
      var c0 = range.lowerBound
      while c0 < range.upperBound {
        let n = min(bk, range.upperBound - c0)
        // A Float16 or BFloat16 tile that is one run of rows is computed straight from the cache
        // (converted in registers); anything else is widened (or read in place) first. Same
        // bits either way.
        let narrowRow =
          narrowTileEligible(ops, rows: rows, first: c0, count: n)
          ? map.row(sequence: sequence, position: c0) : nil
        // A 16-bit tile across paged blocks: computed in place run by run (same bits).
        if narrowRow == nil && runsTileEligible(ops, first: c0, count: n) {
          runsTile(
            ops, sequence: sequence, kvHead: kvHead, first: c0, count: n, end: prefetchEnd,
            masked: c0 < maxStart || c0 + n > minEnd, changesScores: changesScores,
            scratch: scratch)
          c0 += n
          continue
        }
        var values = UnsafePointer(scratch.vTile)
        var valueStride = ops.valueDepth
        if let narrowRow {
          scoresNarrow(
            type: map.scalarType, queries: scratch.qHat, rows: rows, depth: ops.depth,
            keys: map.keyHeads[kvHead] + narrowRow * map.keyRowBytes,
            strideBytes: map.keyRowBytes,
            keyCount: n, scores: scratch.scores, scoreStride: stride, pairs: scratch.pairs,
            prefetch: runPrefetch(
              ops, heads: map.valueHeads, rowBytes: map.valueRowBytes, sequence: sequence,
              kvHead: kvHead, first: c0, count: n))
        } else {
          let (keys, keyStride) = tileRows(
            ops, heads: map.keyHeads, rowBytes: map.keyRowBytes, width: ops.headDim,
            paddedWidth: ops.depth, sequence: sequence, kvHead: kvHead, first: c0, count: n,
            tile: scratch.kTile)
          // V right after K: both rows streams are in flight together (2 streams of memory-level
          // parallelism per core) before the compute of the tile, which issues no loads to memory.
          (values, valueStride) = tileRows(
            ops, heads: map.valueHeads, rowBytes: map.valueRowBytes, width: ops.valueDim,
            paddedWidth: ops.valueDepth, sequence: sequence, kvHead: kvHead, first: c0, count: n,
            tile: scratch.vTile)
          // V read in place (a Float32 cache) is fetched while the scores run.
          scores(
            Float32Elements.self, queries: scratch.qHat, rows: rows, depth: ops.depth,
            keys: UnsafeRawPointer(keys), strideBytes: keyStride * 4, keyCount: n,
            scores: scratch.scores, scoreStride: stride, pairs: scratch.pairs,
            prefetch: values == UnsafePointer(scratch.vTile)
              ? nil
              : runPrefetch(
                ops, heads: map.valueHeads, rowBytes: map.valueRowBytes, sequence: sequence,
                kvHead: kvHead, first: c0, count: n))
        }
        finishScores(
          ops, first: c0, count: n, masked: c0 < maxStart || c0 + n > minEnd,
          changesScores: changesScores, scratch: scratch)
        // The next tile's K rows are fetched while P·V runs.
        let nextKeys = runPrefetch(
          ops, heads: map.keyHeads, rowBytes: map.keyRowBytes, sequence: sequence,
          kvHead: kvHead, first: c0 + n, count: min(bk, prefetchEnd - c0 - n))
        if let narrowRow {
          accumulateNarrow(
            type: map.scalarType, probabilities: scratch.scores, rows: rows, scoreStride: stride,
            keyCount: n, values: map.valueHeads[kvHead] + narrowRow * map.valueRowBytes,
            strideBytes: map.valueRowBytes, paddedValueDim: ops.valueDepth,
            alpha: scratch.alpha, acc: scratch.acc, prefetch: nextKeys)
        } else {
          accumulate(
            Float32Elements.self, probabilities: scratch.scores, rows: rows, scoreStride: stride,
            keyCount: n, values: UnsafeRawPointer(values), strideBytes: valueStride * 4,
            paddedValueDim: ops.valueDepth,
            alpha: scratch.alpha, acc: scratch.acc, prefetch: nextKeys)
        }
        c0 += n
      }
    }
    // A group of one split and no sink writes its output directly: merging one partial weighs
    // it by exp(LSE − LSE) = 1 and leaves its LSE as it is, so only the sign of a zero can
    // differ, the same for every thread count and cache kind (fixed by the problem). Through
    // the partial buffer and the merge: B=4, 32/8 heads, Skv=128, 1 thread, best of 3000 calls,
    // 3 rounds, 156.5–160.7 µs against 147.1–147.2 direct.
    if ops.groupCount[g] == 1 && p.modifiers.sinks == nil {
      normalize(ops, scratch: scratch, into: scratch.acc, lse: scratch.mergedLSE)
      storeGroup(ops, group: g, scratch: scratch)
      return
    }
    normalize(
      ops, scratch: scratch, into: ops.partialO + i * rows * ops.valueDepth,
      lse: ops.partialLSE + i * rows)
    if ops.countdowns[g].remaining.wrappingSubtract(1, ordering: .acquiringAndReleasing).oldValue
      == 1
    {
      mergeGroup(ops, group: g, scratch: scratch)
    }
  }

  /// S → P for tile [first, first + count) in `scratch.scores`: the score modifiers (softcap,
  /// ALiBi) when the problem has any, then the online softmax, which leaves the tile's alphas.
  static func finishScores(
    _ ops: DecodeOperands, first c0: Int, count n: Int, masked: Bool, changesScores: Bool,
    scratch: DecodeScratch
  ) {
    let stride = DecodeScratch.scoreStride
    if changesScores {
      modify(
        scores: scratch.scores, rows: ops.rows, scoreStride: stride, keyCount: n, firstKey: c0,
        softcap2: ops.softcap2, slopes2: scratch.slopes2, diagonal: scratch.diagonal)
    }
    softmax(
      scores: scratch.scores, rows: ops.rows, scoreStride: stride, keyCount: n, firstKey: c0,
      masked: masked, rowStart: scratch.rowStart, rowEnd: scratch.rowEnd,
      rowMax: scratch.rowMax, rowSum: scratch.rowSum, alpha: scratch.alpha)
  }

  /// Whether tile [first, first + count) can be computed in place run by run (`runsTile`): a
  /// 16-bit cache with head dims that need no padding, and either 4-row groups (the 4-row
  /// kernels give each key the same bits whichever keys share its pair or run) or runs that
  /// start at multiples of 8 keys into the tile (so the 1-row kernels group keys by 8 as they
  /// do for a contiguous tile).
  static func runsTileEligible(_ ops: DecodeOperands, first: Int, count: Int) -> Bool {
    let map = ops.map
    guard map.scalarType != .float32, ops.headDim == ops.depth,
      ops.valueDim == ops.valueDepth
    else { return false }
    if ops.rows % 4 == 0 { return true }
    var j = (first / map.blockRows + 1) * map.blockRows
    while j < first + count {
      if (j - first) % 8 != 0 { return false }
      j += map.blockRows
    }
    return true
  }

  /// A tile across paged blocks, read in place from the 16-bit cache one run of rows (one
  /// block's part) at a time, instead of widened into the tile buffers: the scores of each run
  /// go to their columns of S, and P·V runs over the runs in key order, continuing each
  /// accumulator from where the previous run stored it (alpha applied by the first run only,
  /// then 1, which skips the rescale), so every output sees the same operations in the same
  /// order as for a contiguous tile. Each run's scores prefetch its V rows, and each run's P·V
  /// prefetches the next tile's K rows at the same offsets (up to the end of their block); a
  /// tile over exactly two blocks in 4-row groups runs scores and P·V once over both runs.
  ///
  /// Widened, a paged tile cost a Float32 store per element of K and V and was read with no
  /// prefetch. `tessera decode --batch 4 --heads 32 --kv-heads 8 --dim 128 --kv-seq 32768
  /// --dtype f16 --threads 2 --paged --block-size 16`, 4 runs interleaved with the widening
  /// build: 8.3–10.3 → 10.9–12.8 GB/s (median 31 → 41 % of the paired triad); 1 thread, best
  /// of 60 calls, 4 rounds: 72.9–76.8 → 40.8–55.1 ns per key and kv head (contiguous: 40–43).
  static func runsTile(
    _ ops: DecodeOperands, sequence: Int, kvHead: Int, first c0: Int, count n: Int, end: Int,
    masked: Bool, changesScores: Bool, scratch: DecodeScratch
  ) {
    let map = ops.map
    let rows = ops.rows
    let stride = DecodeScratch.scoreStride
    // A tile over exactly two blocks (the first run even, so no key pair of `scores` straddles
    // them), in 4-row groups: one scores call and one P·V call over both runs (each pass of P·V
    // continues from the first run's rows into the second's), instead of one of each per run,
    // which paid every P·V pass's accumulator loads, alpha scaling and stores twice. Same operations per output in the same order. `tessera decode
    // --batch 4 --heads 32 --kv-heads 8 --dim 128 --kv-seq 32768 --dtype f16 --paged
    // --block-size 16`, per-run and fused forms alternated in one process, median speed ratio
    // over 40 (2 threads) or 20 (1 thread) pairs: fused P·V 1.02–1.04 in 3 runs on 2 threads,
    // 1.05 on 1; fused scores on top of it 1.02–1.04 on 2 threads, 1.02 on 1.
    let mid = (c0 / map.blockRows + 1) * map.blockRows
    if rows % 4 == 0 && (mid - c0) % 2 == 0 && mid < c0 + n
      && (c0 + n - 1) / map.blockRows == mid / map.blockRows
    {
      let first = map.row(sequence: sequence, position: c0)
      let second = map.row(sequence: sequence, position: mid)
      func values(_ start: Int, _ count: Int) -> RowPrefetch? {
        runPrefetch(
          ops, heads: map.valueHeads, rowBytes: map.valueRowBytes, sequence: sequence,
          kvHead: kvHead, first: start, count: count)
      }
      scoresNarrow(
        type: map.scalarType, queries: scratch.qHat, rows: rows, depth: ops.depth,
        keys: map.keyHeads[kvHead] + first * map.keyRowBytes, strideBytes: map.keyRowBytes,
        keyCount: n, scores: scratch.scores, scoreStride: stride, pairs: scratch.pairs,
        prefetch: values(c0, mid - c0), split: mid - c0,
        second: map.keyHeads[kvHead] + second * map.keyRowBytes,
        prefetch2: values(mid, c0 + n - mid))
      finishScores(
        ops, first: c0, count: n, masked: masked, changesScores: changesScores, scratch: scratch)
      accumulateNarrow(
        type: map.scalarType, probabilities: scratch.scores, rows: rows, scoreStride: stride,
        keyCount: n, values: map.valueHeads[kvHead] + first * map.valueRowBytes,
        strideBytes: map.valueRowBytes, paddedValueDim: ops.valueDepth,
        alpha: scratch.alpha, acc: scratch.acc,
        prefetch: nextKeys(
          ops, sequence: sequence, kvHead: kvHead, run: c0, end: mid, tile: n, limit: end),
        split: mid - c0, second: map.valueHeads[kvHead] + second * map.valueRowBytes,
        prefetch2: nextKeys(
          ops, sequence: sequence, kvHead: kvHead, run: mid, end: c0 + n,
          tile: n, limit: end))
      return
    }
    var j = c0
    while j < c0 + n {
      let runEnd = min(c0 + n, (j / map.blockRows + 1) * map.blockRows)
      let row = map.row(sequence: sequence, position: j)
      scoresNarrow(
        type: map.scalarType, queries: scratch.qHat, rows: rows, depth: ops.depth,
        keys: map.keyHeads[kvHead] + row * map.keyRowBytes, strideBytes: map.keyRowBytes,
        keyCount: runEnd - j, scores: scratch.scores + (j - c0), scoreStride: stride,
        pairs: scratch.pairs,
        prefetch: runPrefetch(
          ops, heads: map.valueHeads, rowBytes: map.valueRowBytes, sequence: sequence,
          kvHead: kvHead, first: j, count: runEnd - j))
      j = runEnd
    }
    finishScores(
      ops, first: c0, count: n, masked: masked, changesScores: changesScores, scratch: scratch)
    j = c0
    while j < c0 + n {
      let runEnd = min(c0 + n, (j / map.blockRows + 1) * map.blockRows)
      let row = map.row(sequence: sequence, position: j)
      accumulateNarrow(
        type: map.scalarType, probabilities: scratch.scores + (j - c0), rows: rows,
        scoreStride: stride, keyCount: runEnd - j,
        values: map.valueHeads[kvHead] + row * map.valueRowBytes,
        strideBytes: map.valueRowBytes, paddedValueDim: ops.valueDepth,
        alpha: j == c0 ? scratch.alpha : scratch.ones, acc: scratch.acc,
        prefetch: nextKeys(
          ops, sequence: sequence, kvHead: kvHead, run: j, end: runEnd, tile: n, limit: end))
      j = runEnd
    }
  }

  /// The next tile's K rows at run [run, end)'s offsets (tile `tile` keys later), cut at their
  /// block's end and at `limit`; nil when there are none.
  static func nextKeys(
    _ ops: DecodeOperands, sequence: Int, kvHead: Int, run j: Int, end runEnd: Int, tile n: Int,
    limit: Int
  ) -> RowPrefetch? {
    let map = ops.map
    let next = j + n
    let nextEnd = min(limit, runEnd + n, (next / map.blockRows + 1) * map.blockRows)
    return runPrefetch(
      ops, heads: map.keyHeads, rowBytes: map.keyRowBytes, sequence: sequence, kvHead: kvHead,
      first: next, count: nextEnd - next)
  }

  /// Rows [first, first + count) of one head as a `RowPrefetch`, when they are one run of rows
  /// in the cache (never across a paged block); nil otherwise, or when there are none.
  static func runPrefetch(
    _ ops: DecodeOperands, heads: [UnsafeRawPointer], rowBytes: Int, sequence: Int,
    kvHead: Int, first: Int, count: Int
  ) -> RowPrefetch? {
    let map = ops.map
    guard count > 0, first / map.blockRows == (first + count - 1) / map.blockRows else {
      return nil
    }
    let row = map.row(sequence: sequence, position: first)
    return RowPrefetch(base: heads[kvHead] + row * rowBytes, rowBytes: rowBytes, count: count)
  }

  /// Rows [first, first + count) of one head of a sequence as Float rows: in place when the
  /// cache is Float32, the width needs no padding and the rows are one run (never across a
  /// paged block); otherwise gathered run by run into `tile` (Float16/BFloat16 widened). Both
  /// give the same numbers, so a paged and a contiguous cache give the same bits.
  @inline(__always)
  static func tileRows(
    _ ops: DecodeOperands, heads: [UnsafeRawPointer], rowBytes: Int, width: Int,
    paddedWidth: Int, sequence: Int, kvHead: Int, first: Int, count: Int,
    tile: UnsafeMutablePointer<Float>
  ) -> (UnsafePointer<Float>, Int) {
    let map = ops.map
    let base = heads[kvHead]
    let blockRows = map.blockRows
    if map.scalarType == .float32 && width == paddedWidth
      && first / blockRows == (first + count - 1) / blockRows
    {
      let row = map.row(sequence: sequence, position: first)
      return (UnsafePointer((base + row * rowBytes).assumingMemoryBound(to: Float.self)), width)
    }
    var j = first
    let end = first + count
    while j < end {
      let runEnd = min(end, (j / blockRows + 1) * blockRows)
      widenRows(
        base + map.row(sequence: sequence, position: j) * rowBytes, type: map.scalarType,
        sourceStride: rowBytes, rows: runEnd - j, width: width, paddedWidth: paddedWidth,
        into: tile + (j - first) * paddedWidth, destinationStride: paddedWidth)
      j = runEnd
    }
    return (UnsafePointer(tile), paddedWidth)
  }

  /// Q̂[r] = Q[b, t, head]·scale·log2 e for the group's R rows, zero-padded to Dp: each row
  /// widened by `StorageConversion.widen` (vectorized) and then scaled, the same two roundings
  /// per element as converting and scaling one by one (which took ~0.4 µs per item, 6 % of a
  /// B=4, 32/8-head call over 128 cached tokens).
  @inline(never)
  static func packQueries(
    _ ops: DecodeOperands, batch b: Int, kvHead: Int, into qHat: UnsafeMutablePointer<Float>
  ) {
    let p = ops.problem
    let d = ops.headDim
    let factor = ops.factor
    for r in 0..<ops.rows {
      let t = r / ops.group
      let head = kvHead * ops.group + r % ops.group
      let offset = ((b * p.queryLength + t) * p.queryHeads + head) * d
      let dst = qHat + r * ops.depth
      StorageConversion.widen(
        ops.q + offset * p.queryType.byteCount, type: p.queryType, count: d, into: dst)
      for i in 0..<d { dst[i] *= factor }
      for i in d..<ops.depth { dst[i] = 0 }
    }
  }

  /// The item's state: O_r = acc_r / l_r ([R][Dvp] at `out`, which may be `scratch.acc`) and
  /// LSE_r = (m_r + log2 l_r)·ln 2, or O = 0 and LSE = −∞ for a row that saw no key.
  @inline(never)
  static func normalize(
    _ ops: DecodeOperands, scratch: DecodeScratch, into out: UnsafeMutablePointer<Float>,
    lse: UnsafeMutablePointer<Float>
  ) {
    let dvp = ops.valueDepth
    for r in 0..<ops.rows {
      let l = scratch.rowSum[r]
      let inverse = Vec(repeating: l > 0 ? 1 / l : 0)
      let src = UnsafeRawPointer(scratch.acc + r * dvp)
      let dst = UnsafeMutableRawPointer(out + r * dvp)
      var d = 0
      while d < dvp {
        dst.storeBytes(
          of: src.loadUnaligned(fromByteOffset: d * 4, as: Vec.self) * inverse,
          toByteOffset: d * 4, as: Vec.self)
        d += 8
      }
      lse[r] = l > 0 ? (scratch.rowMax[r] + Foundation.log2(l)) * ln2 : -.infinity
    }
  }

  /// Merges group g's partials in split order (and the sinks) and writes O and LSE.
  @inline(never)
  static func mergeGroup(_ ops: DecodeOperands, group g: Int, scratch: DecodeScratch) {
    let p = ops.problem
    let kvHead = g % ops.kvHeads
    let rows = ops.rows
    let dvp = ops.valueDepth
    let first = ops.groupFirst[g]
    var sinks: UnsafePointer<Float>? = nil
    if let s = p.modifiers.sinks {
      for r in 0..<rows { scratch.sinks[r] = s[kvHead * ops.group + r % ops.group] }
      sinks = UnsafePointer(scratch.sinks)
    }
    AttentionState.merge(
      count: ops.groupCount[g], rows: rows, valueDim: dvp,
      outputs: ops.partialO + first * rows * dvp, outputStride: rows * dvp,
      lse: ops.partialLSE + first * rows, lseStride: rows, sinks: sinks,
      into: scratch.acc, mergedLSE: scratch.mergedLSE)
    storeGroup(ops, group: g, scratch: scratch)
  }

  /// Stores group g's rows of O (`scratch.acc`, [R][Dvp]) and LSE (`scratch.mergedLSE`) in the
  /// caller's layouts and types.
  static func storeGroup(_ ops: DecodeOperands, group g: Int, scratch: DecodeScratch) {
    let p = ops.problem
    let b = g / ops.kvHeads
    let kvHead = g % ops.kvHeads
    let dvp = ops.valueDepth
    let dv = ops.valueDim
    for r in 0..<ops.rows {
      let t = r / ops.group
      let head = kvHead * ops.group + r % ops.group
      let offset = ((b * p.queryLength + t) * p.queryHeads + head) * dv
      StorageConversion.narrow(
        scratch.acc + r * dvp, count: dv, as: p.outputType, into: ops.o, index: offset)
      ops.lse?[(b * p.queryHeads + head) * p.queryLength + t] = scratch.mergedLSE[r]
    }
  }
}
