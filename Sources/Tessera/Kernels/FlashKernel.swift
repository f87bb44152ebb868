import Foundation

/// FlashAttention-2 forward on a CPU core, for one work item: one (batch, query head, query
/// tile of Br rows).
///
///     Q̂_i = Q_i · scale · log2(e)                                   (packQueries)
///     m = −∞, l = 0, acc = 0
///     for each key tile j that the mask leaves (partly) visible:
///         Sᵀ = K_j · Q̂_iᵀ                                          (scoresTile)
///         m', P = exp2(S − m'), alpha = exp2(m − m'), l = l·alpha + rowsum P  (softmaxTile)
///         acc = acc·alpha + P·V_j                  (packValuesBlocked, accumulateTile)
///     O_i = acc / l,  LSE_i = (m + log2 l) · ln 2                   (writeOutput)
///
/// Tiles the mask hides entirely are never visited; only tiles that straddle a mask boundary
/// are masked element by element. Nothing here allocates: all buffers live in `FlashScratch`.
public enum FlashKernel {}

/// Base pointers, storage types and layouts of one attention call, shared read-only by every
/// worker. Offsets from the layouts are in elements; pointers are raw because Q, K, V and O may
/// each be Float32, Float16 or BFloat16.
struct FlashOperands: @unchecked Sendable {
  let problem: AttentionProblem
  let q: UnsafeRawPointer
  let k: UnsafeRawPointer
  let v: UnsafeRawPointer
  let o: UnsafeMutableRawPointer
  /// (batch, queryHeads, queryLength) contiguous Float32, or nil.
  let lse: UnsafeMutablePointer<Float>?
  /// Additive Float32 bias laid out by `problem.bias`, or nil.
  var bias: UnsafePointer<Float>? = nil

  init(
    problem: AttentionProblem, q: UnsafeRawPointer, k: UnsafeRawPointer, v: UnsafeRawPointer,
    o: UnsafeMutableRawPointer, lse: UnsafeMutablePointer<Float>?
  ) {
    self.problem = problem
    self.q = q
    self.k = k
    self.v = v
    self.o = o
    self.lse = lse
  }

  /// Float32 tensors.
  init(
    problem: AttentionProblem, q: UnsafePointer<Float>, k: UnsafePointer<Float>,
    v: UnsafePointer<Float>, o: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>?
  ) {
    self.init(
      problem: problem, q: UnsafeRawPointer(q), k: UnsafeRawPointer(k), v: UnsafeRawPointer(v),
      o: UnsafeMutableRawPointer(o), lse: lse)
  }
}

/// Where one sequence's rows sit in the tensors: a batch entry of a dense call, or one
/// sequence of a ragged (packed) call.
struct SequenceSpan {
  /// Batch index into the layouts (0 for packed ragged tensors).
  let batch: Int
  let queryStart: Int
  let queryLength: Int
  let keyStart: Int
  let keyLength: Int
}

extension FlashOperands {
  /// The span of batch entry (or ragged sequence) `b`.
  func span(_ b: Int) -> SequenceSpan {
    let shape = problem.shape
    guard let ragged = problem.ragged else {
      return SequenceSpan(
        batch: b, queryStart: 0, queryLength: shape.queryLength, keyStart: 0,
        keyLength: shape.keyLength)
    }
    let q0 = ragged.queryOffsets[b]
    let k0 = ragged.keyOffsets[b]
    return SequenceSpan(
      batch: 0, queryStart: q0, queryLength: ragged.queryOffsets[b + 1] - q0, keyStart: k0,
      keyLength: ragged.keyOffsets[b + 1] - k0)
  }
}

/// One unit of prefill work: a query tile of one (batch, query head).
struct FlashWorkItem: Hashable, Sendable {
  let batch: Int
  let head: Int
  let tile: Int
}

extension FlashKernel {
  /// The tile sizes a problem runs with: a block-sparse problem works in its blocks (one query
  /// tile per query block, one key tile per key block); any other uses `requested`.
  static func effectiveConfig(_ problem: AttentionProblem, requested: TileConfig) -> TileConfig {
    guard let sparse = problem.blockSparse else { return requested }
    return TileConfig(queryTile: sparse.blockSize, keyTile: sparse.blockSize)
  }

  /// Runs one work item to completion, writing its rows of O (and LSE).
  static func run(_ item: FlashWorkItem, _ ops: FlashOperands, scratch: FlashScratch) {
    let p = ops.problem
    let shape = p.shape
    let br = scratch.config.paddedQueryTile
    let bc = scratch.config.keyTile
    let r0 = item.tile * scratch.config.queryTile
    let span = ops.span(item.batch)
    let rows = min(scratch.config.queryTile, span.queryLength - r0)
    if rows <= 0 { return }  // a ragged sequence shorter than the longest
    let kvHead = shape.kvHead(forQueryHead: item.head)

    // Visible key range per row; the union over the tile is [first row's start, last row's end)
    // because both bounds never decrease with the row index.
    var tileStart = Int.max
    var tileEnd = 0
    var minEnd = Int.max
    var maxStart = 0
    for r in 0..<br {
      let keys =
        r < rows
        ? p.mask.visibleKeys(
          query: r0 + r, queryLength: span.queryLength, keyLength: span.keyLength)
        : 0..<0
      scratch.diagonal[r] = Float(
        p.mask.diagonal(query: r0 + r, queryLength: span.queryLength, keyLength: span.keyLength))
      scratch.keyStart[r] = Int32(truncatingIfNeeded: keys.lowerBound)
      scratch.keyEnd[r] = Int32(truncatingIfNeeded: keys.upperBound)
      if r < rows {
        if !keys.isEmpty {
          tileStart = min(tileStart, keys.lowerBound)
          tileEnd = max(tileEnd, keys.upperBound)
        }
        minEnd = min(minEnd, keys.upperBound)
        maxStart = max(maxStart, keys.lowerBound)
      }
    }

    packQueries(item: item, span: span, rows: rows, ops: ops, scratch: scratch)
    for r in 0..<br {
      scratch.rowMax[r] = -.infinity
      scratch.rowSum[r] = 0
    }
    scratch.accT.update(repeating: 0, count: scratch.paddedValueDim * br)

    // K_j is read in place when stored as Float32, else widened tile by tile into contiguous
    // Float rows (kTile); V_j is always re-blocked (and widened) into vTile for P·V.
    let kType = p.key.scalarType
    let vType = p.value.scalarType
    let kBase =
      ops.k + p.key.layout.offset(batch: span.batch, sequence: span.keyStart, head: kvHead)
      * kType.byteCount
    let vBase =
      ops.v + p.value.layout.offset(batch: span.batch, sequence: span.keyStart, head: kvHead)
      * vType.byteCount
    let kStride = p.key.layout.sequenceStride
    let vStride = p.value.layout.sequenceStride
    let modifiers = p.modifiers
    let changesScores = modifiers.changesScores
    let softcap2 = (modifiers.softcap ?? 0) * log2e
    let slope2 = (modifiers.alibiSlopes?[item.head] ?? 0) * log2e

    /// One key tile [c0, c0 + count): S, modifiers, online softmax, P·V.
    func keyTile(_ c0: Int, _ count: Int) {
      // Unmasked when every valid row sees every key of the tile. Padding rows (r ≥ rows) see no
      // key; their results are never written, so they need no mask either.
      let masked = c0 < maxStart || c0 + count > minEnd
      let keys: UnsafePointer<Float>
      let keyStride: Int
      if kType == .float32 {
        keys = UnsafePointer(kBase.assumingMemoryBound(to: Float.self)) + c0 * kStride
        keyStride = kStride
      } else {
        StorageConversion.widenRows(
          kBase + c0 * kStride * kType.byteCount, type: kType, stride: kStride, rows: count,
          width: shape.headDim, into: scratch.kTile)
        keys = UnsafePointer(scratch.kTile)
        keyStride = shape.headDim
      }
      // Float32 V rows close together are read in place (no re-blocking). A 4-dim group pass
      // touches one line per key; rows ≤ 256 B apart spread the tile's Bc lines over ≥ 16 of
      // the 64 L1 sets, half the L1 at Bc = 64, so they stay put for the 4 passes that share a
      // line. Measured, S=4096 H=8 1 thread, 4 interleaved pairs: D=64 (256 B) 72.0 → 77.6
      // GFLOP/s; D=128 (512 B, 8 sets) 70.1 → 67.8, so it keeps the re-blocking, as do bshd
      // rows (KiBs apart: every row in the same few sets).
      let inPlaceV =
        vType == .float32 && shape.valueDim == scratch.paddedValueDim
        && vStride * 4 * 2 * count <= 32 * 1024
      if !inPlaceV {
        packValuesBlocked(
          vBase + c0 * vStride * vType.byteCount, type: vType, stride: vStride, count: count,
          valueDim: shape.valueDim, paddedValueDim: scratch.paddedValueDim, into: scratch.vTile)
      }
      scoresTile(
        qPacked: scratch.qPacked, queryTile: br, depth: shape.headDim,
        keys: keys, keyStride: keyStride, keyCount: count,
        scores: scratch.scores)
      if changesScores {
        modifyScoresTile(
          scores: scratch.scores, queryTile: br, keyCount: count, firstKey: c0,
          softcap2: softcap2, slope2: slope2, diagonal: scratch.diagonal)
      }
      // The bias is added to the soft-capped score (a −∞ entry must stay −∞).
      if let bias = ops.bias, let layout = p.bias {
        addBiasTile(
          scores: scratch.scores, queryTile: br, rows: rows, keyCount: count,
          bias: bias + layout.offset(batch: item.batch, head: item.head, query: r0) + c0,
          queryStride: layout.queryStride)
      }
      softmaxTile(
        scores: scratch.scores, queryTile: br, keyCount: count, firstKey: c0, masked: masked,
        keyStart: scratch.keyStart, keyEnd: scratch.keyEnd,
        rowMax: scratch.rowMax, rowSum: scratch.rowSum, alpha: scratch.alpha)
      if inPlaceV {
        accumulateTile(
          probabilities: scratch.scores, queryTile: br, keyCount: count,
          blockedValues: UnsafePointer(vBase.assumingMemoryBound(to: Float.self)) + c0 * vStride,
          paddedValueDim: scratch.paddedValueDim, alpha: scratch.alpha, accT: scratch.accT,
          keyStep: vStride, groupStep: 4)
      } else {
        accumulateTile(
          probabilities: scratch.scores, queryTile: br, keyCount: count,
          blockedValues: scratch.vTile, paddedValueDim: scratch.paddedValueDim,
          alpha: scratch.alpha, accT: scratch.accT)
      }
    }

    if tileStart < tileEnd {
      if let sparse = p.blockSparse {
        // Query tile = query block; visit only the kept key blocks inside the visible range.
        let bs = sparse.blockSize
        for kb in (tileStart / bs)...((tileEnd - 1) / bs)
        where sparse.isKept(head: item.head, queryBlock: item.tile, keyBlock: kb) {
          let lo = max(tileStart, kb * bs)
          let hi = min(tileEnd, (kb + 1) * bs)
          if lo < hi { keyTile(lo, hi - lo) }
        }
      } else {
        var c0 = tileStart
        while c0 < tileEnd {
          let count = min(bc, tileEnd - c0)
          keyTile(c0, count)
          c0 += count
        }
      }
    }
    writeOutput(item: item, span: span, rows: rows, ops: ops, scratch: scratch)
  }

  /// Q̂_i[r][d] = Q[r0 + r][d] · scale · log2(e), into 24-row micro-panels [Br/24][D][24];
  /// rows past the sequence are zero.
  @inline(never)
  static func packQueries(
    item: FlashWorkItem, span: SequenceSpan, rows: Int, ops: FlashOperands, scratch: FlashScratch
  ) {
    let p = ops.problem
    let depth = p.shape.headDim
    let br = scratch.config.paddedQueryTile
    let mq = TileConfig.microQueries
    let factor = p.effectiveScale * log2e
    let r0 = item.tile * scratch.config.queryTile
    for r in 0..<br {
      let panel = scratch.qPacked + (r / mq) * depth * mq + r % mq
      if r < rows {
        let offset = p.query.layout.offset(
          batch: span.batch, sequence: span.queryStart + r0 + r, head: item.head)
        switch p.query.scalarType {
        case .float32:
          let src = ops.q.assumingMemoryBound(to: Float.self) + offset
          for d in 0..<depth { panel[d * mq] = src[d] * factor }
        case let type:
          for d in 0..<depth {
            panel[d * mq] = StorageConversion.load(ops.q, as: type, index: offset + d) * factor
          }
        }
      } else {
        for d in 0..<depth { panel[d * mq] = 0 }
      }
    }
  }

  /// O_i = accᵀ / l (transposed back to the output layout), LSE_i = (m + log2 l)·ln 2.
  /// A row with l = 0 saw no key: O = 0, LSE = −∞.
  @inline(never)
  static func writeOutput(
    item: FlashWorkItem, span: SequenceSpan, rows: Int, ops: FlashOperands, scratch: FlashScratch
  ) {
    let p = ops.problem
    let dv = p.shape.valueDim
    let br = scratch.config.paddedQueryTile
    let r0 = item.tile * scratch.config.queryTile
    // A sink joins the denominator: m_f = max(m, sink), l' = l·2^(m − m_f) + 2^(sink − m_f),
    // O = acc·2^(m − m_f) / l' (log2 units, as the rest of the kernel).
    let sink2 = p.modifiers.sinks.map { $0[item.head] * log2e }
    for r in 0..<rows {
      var l = scratch.rowSum[r]
      var m = scratch.rowMax[r]
      var accScale: Float = 1
      if let sink2 {
        let mFinal = max(m, sink2)
        accScale = l > 0 ? exp2f(m - mFinal) : 0
        l = l * accScale + exp2f(sink2 - mFinal)
        m = mFinal
      }
      let inverse: Float = l > 0 ? accScale / l : 0
      let offset = p.output.layout.offset(
        batch: span.batch, sequence: span.queryStart + r0 + r, head: item.head)
      var acc = scratch.accT + r
      switch p.output.scalarType {
      case .float32:
        let dst = ops.o.assumingMemoryBound(to: Float.self) + offset
        for d in 0..<dv {
          dst[d] = acc.pointee * inverse
          acc += br
        }
      case let type:
        for d in 0..<dv {
          StorageConversion.store(acc.pointee * inverse, as: type, at: ops.o, index: offset + d)
          acc += br
        }
      }
      if let lse = ops.lse {
        let index =
          (span.batch * p.shape.queryHeads + item.head) * p.shape.queryLength + span.queryStart
          + r0 + r
        lse[index] = l > 0 ? (m + log2(l)) * ln2 : -.infinity
      }
    }
  }
}
