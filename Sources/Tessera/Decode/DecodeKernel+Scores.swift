/// The Q̂·Kᵀ micro-kernels of decode (S = Q̂·K for a tile of keys); see `DecodeKernel`.
extension DecodeKernel {
  /// S[r][c] = Q̂_r·K_c for `rows` rows of Q̂ (`depth` = Dp floats each, a multiple of 8) and
  /// `keyCount` key rows `strideBytes` apart, stored as `Rows` says (a Float32 tile or cache, or
  /// Float16/BFloat16 cache rows converted in registers: one body, so the same bits). Scores of
  /// row r start at `scores + r·scoreStride`. With `second`, keys [split, keyCount) are rows of
  /// `second` instead (a tile over two paged blocks; 4-row groups and an even split only), and
  /// `prefetch2` holds the second run's rows to ask for, as `prefetch` the first's.
  @inline(never)
  static func scores<Rows: RowElements>(
    _: Rows.Type, queries: UnsafePointer<Float>, rows: Int, depth: Int, keys: UnsafeRawPointer,
    strideBytes: Int, keyCount: Int, scores: UnsafeMutablePointer<Float>, scoreStride: Int,
    pairs: UnsafeMutablePointer<Float>, prefetch: RowPrefetch? = nil, split: Int = .max,
    second: UnsafeRawPointer? = nil, prefetch2: RowPrefetch? = nil
  ) {
    precondition(second == nil || rows % 4 == 0, "two key runs need 4-row blocks")
    let depthBytes = depth &* 4
    // Blocks of 4 rows × 2 keys: each K vector is loaded once and meets 4 rows (6 loads per
    // 8 FMAs). Row by row, every row re-read the whole K tile (9 loads per 8 FMAs), and the
    // widened K and V tiles (2 × 16 KiB) do not both stay in L1: those loads came from L2.
    var r0 = 0
    while r0 &+ 4 <= rows {
      scoresFourRows(
        Rows.self, queries: queries + r0 &* depth, depthBytes: depthBytes, keys: keys,
        strideBytes: strideBytes, keyCount: keyCount, scores: scores + r0 &* scoreStride,
        scoreStride: scoreStride, pairs: pairs, prefetch: r0 == 0 ? prefetch : nil,
        split: split, second: second, prefetch2: r0 == 0 ? prefetch2 : nil)
      r0 &+= 4
    }
    for r in r0..<rows {
      scoresOneRow(
        Rows.self, query: UnsafeRawPointer(queries + r &* depth), depthBytes: depthBytes,
        keys: keys, strideBytes: strideBytes, keyCount: keyCount,
        scores: scores + r &* scoreStride, prefetch: r == 0 ? prefetch : nil)
    }
  }

  /// S[c] = q·K_c for one row of Q̂ (rows past the last block of 4): 8 keys at a time, one
  /// accumulator per key over D, then one `reduce8`. `Rows` says how K is stored.
  @inline(__always)
  static func scoresOneRow<Rows: RowElements>(
    _: Rows.Type, query q: UnsafeRawPointer, depthBytes: Int, keys: UnsafeRawPointer,
    strideBytes: Int, keyCount: Int, scores out: UnsafeMutablePointer<Float>,
    prefetch: RowPrefetch? = nil
  ) {
    var j = 0
    while j &+ 8 <= keyCount {
      let k0 = keys + j &* strideBytes
      let k1 = k0 + strideBytes
      let k2 = k1 + strideBytes
      let k3 = k2 + strideBytes
      let k4 = k3 + strideBytes
      let k5 = k4 + strideBytes
      let k6 = k5 + strideBytes
      let k7 = k6 + strideBytes
      var a0 = Vec(), a1 = Vec(), a2 = Vec(), a3 = Vec()
      var a4 = Vec(), a5 = Vec(), a6 = Vec(), a7 = Vec()
      var off = 0
      while off < depthBytes {
        let x = q.loadUnaligned(fromByteOffset: off, as: Vec.self)
        let e = off &>> 2
        a0 = fma(x, Rows.load(k0, e), a0)
        a1 = fma(x, Rows.load(k1, e), a1)
        a2 = fma(x, Rows.load(k2, e), a2)
        a3 = fma(x, Rows.load(k3, e), a3)
        a4 = fma(x, Rows.load(k4, e), a4)
        a5 = fma(x, Rows.load(k5, e), a5)
        a6 = fma(x, Rows.load(k6, e), a6)
        a7 = fma(x, Rows.load(k7, e), a7)
        off &+= 32
      }
      UnsafeMutableRawPointer(out + j).storeBytes(
        of: reduce8(a0, a1, a2, a3, a4, a5, a6, a7), as: Vec.self)
      if let prefetch {
        for i in j..<(j &+ 8) { prefetch.row(i) }
      }
      j &+= 8
    }
    while j < keyCount {
      prefetch?.row(j)
      let k = keys + j &* strideBytes
      var a = Vec()
      var off = 0
      while off < depthBytes {
        a = fma(q.loadUnaligned(fromByteOffset: off, as: Vec.self), Rows.load(k, off &>> 2), a)
        off &+= 32
      }
      out[j] = a.sum()
      j &+= 1
    }
  }

  /// `scores` for 4 consecutive rows, 2 keys at a time (8 independent FMA chains, as 2 pipes ×
  /// latency 4 need), reduced together with one `reduce8`; `prefetch` rows are asked for two
  /// per key pair.
  /// `Rows` says how K is stored (Float32 tile or Float16 cache rows, `strideBytes` apart).
  /// `pairs` is scratch for 4·⌈keyCount/8⌉·8 floats.
  @inline(__always)
  static func scoresFourRows<Rows: RowElements>(
    _: Rows.Type, queries: UnsafePointer<Float>, depthBytes: Int, keys: UnsafeRawPointer,
    strideBytes: Int, keyCount: Int, scores: UnsafeMutablePointer<Float>, scoreStride: Int,
    pairs: UnsafeMutablePointer<Float>, prefetch: RowPrefetch? = nil, split: Int = .max,
    second: UnsafeRawPointer? = nil, prefetch2: RowPrefetch? = nil
  ) {
    let depth = depthBytes &>> 2
    let q0 = UnsafeRawPointer(queries)
    let q1 = q0 + depthBytes
    let q2 = q1 + depthBytes
    let q3 = q2 + depthBytes
    // Keys [lo, hi) from rows at `base` (key lo first), pair by pair; `lo` is even.
    @inline(__always)
    func keyPairs(from lo: Int, to hi: Int, rows base: UnsafeRawPointer, prefetch: RowPrefetch?) {
      var j = lo
      while j < hi {
        // An odd last key pairs with itself; the duplicate column is not stored.
        let k0 = base + (j &- lo) &* strideBytes
        let k1 = j &+ 1 < hi ? k0 + strideBytes : k0
        var a00 = Vec(), a01 = Vec(), a10 = Vec(), a11 = Vec()
        var a20 = Vec(), a21 = Vec(), a30 = Vec(), a31 = Vec()
        // Indexed by element (Q at e·4 bytes, K at e·2 or e·4: one index register and scaled
        // addressing) and 16 dims per iteration. Indexed by Q's byte offset, a 16-bit K's offset
        // cost a `mov` + `sar` per 8 FMAs: callgrind, 19 → 14.75 instructions per 8 FMAs in the
        // compiled loop, 211 → 180 per key in `scores` (D = 128, 4 rows, Float16).
        @inline(__always)
        func chunk(_ e: Int) {
          let x0 = Rows.load(k0, e)
          let x1 = Rows.load(k1, e)
          let y0 = q0.loadUnaligned(fromByteOffset: e &* 4, as: Vec.self)
          a00 = fma(y0, x0, a00)
          a01 = fma(y0, x1, a01)
          let y1 = q1.loadUnaligned(fromByteOffset: e &* 4, as: Vec.self)
          a10 = fma(y1, x0, a10)
          a11 = fma(y1, x1, a11)
          let y2 = q2.loadUnaligned(fromByteOffset: e &* 4, as: Vec.self)
          a20 = fma(y2, x0, a20)
          a21 = fma(y2, x1, a21)
          let y3 = q3.loadUnaligned(fromByteOffset: e &* 4, as: Vec.self)
          a30 = fma(y3, x0, a30)
          a31 = fma(y3, x1, a31)
        }
        var e = 0
        while e &+ 16 <= depth {
          chunk(e)
          chunk(e &+ 8)
          e &+= 16
        }
        if e < depth { chunk(e) }
        if let prefetch {
          prefetch.row(j &- lo)
          prefetch.row(j &- lo &+ 1)
        }
        // Lanes [r0k0 r0k1 r1k0 r1k1 r2k0 r2k1 r3k0 r3k1], stored whole: storing the 8 lanes one
        // by one into 4 rows made LLVM scalarize reduce8 (about 100 scalar adds and shuffles per
        // key pair, against 128 FMAs); the transpose below puts 8 keys of each row together.
        UnsafeMutableRawPointer(pairs + (j &>> 1) &* 8).storeBytes(
          of: reduce8(a00, a01, a10, a11, a20, a21, a30, a31), as: Vec.self)
        j &+= 2
      }
    }
    // Keys [0, split) are rows of `keys`, the rest rows of `second` (a tile over 2 paged
    // blocks; an even split, so no pair straddles them), each run with its own prefetch rows.
    // Two loops, not a choice per pair: the choice cost 25 instructions per key (callgrind).
    let firstEnd = split < keyCount ? split : keyCount
    precondition(firstEnd == keyCount || second != nil, "keys past the split need a second run")
    keyPairs(from: 0, to: firstEnd, rows: keys, prefetch: prefetch)
    if firstEnd < keyCount, let second {
      precondition(firstEnd % 2 == 0, "the second run starts at an odd key")
      keyPairs(from: firstEnd, to: keyCount, rows: second, prefetch: prefetch2)
    }
    // 4 pairs × 4 rows of 2 keys → 4 rows × 8 keys: a 4×4 transpose of 64-bit lanes. Pairs past
    // the last key hold stale values; they land in the padding that `softmax` sets to −∞.
    var g = 0
    while g < keyCount {
      let base = UnsafeRawPointer(pairs + g &* 4)
      let a = base.loadUnaligned(as: SIMD4<Double>.self)
      let b = base.loadUnaligned(fromByteOffset: 32, as: SIMD4<Double>.self)
      let c = base.loadUnaligned(fromByteOffset: 64, as: SIMD4<Double>.self)
      let d = base.loadUnaligned(fromByteOffset: 96, as: SIMD4<Double>.self)
      let out = UnsafeMutableRawPointer(scores + g)
      let rowBytes = scoreStride &* 4
      out.storeBytes(of: SIMD4<Double>(a[0], b[0], c[0], d[0]), as: SIMD4<Double>.self)
      out.storeBytes(
        of: SIMD4<Double>(a[1], b[1], c[1], d[1]), toByteOffset: rowBytes, as: SIMD4<Double>.self)
      out.storeBytes(
        of: SIMD4<Double>(a[2], b[2], c[2], d[2]), toByteOffset: 2 &* rowBytes,
        as: SIMD4<Double>.self)
      out.storeBytes(
        of: SIMD4<Double>(a[3], b[3], c[3], d[3]), toByteOffset: 3 &* rowBytes,
        as: SIMD4<Double>.self)
      g &+= 8
    }
  }
}
