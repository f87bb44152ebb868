/// Flash-decoding micro-kernels: R = G·Sq query rows (the G query heads of one kv head times the
/// Sq new tokens) against a tile of at most `DecodeScratch.keyTile` keys.
///
/// The prefill kernel puts 24 query rows on vector lanes; a decode group has 1–32 rows (4 for
/// Llama-style GQA with Sq = 1), so here the vectors run along the head dimension instead:
///
///     Q̂   [R][Dp]      Q·scale·log2 e, rows zero-padded to Dp = ⌈D/8⌉·8        (packQueries)
///     K_j [n][Dp]      tile rows (in place for Float32 caches, else widened)
///     S   [R][Bk]      S[r][c] = Q̂_r·K_c: 8 keys at a time, one SIMD8 accumulator per key
///                      over D, then one 8×8 transpose-reduce gives 8 scores       (scores)
///     m, l, alpha [R]  online softmax along each row in log2 units                (softmax)
///     acc [R][Dvp]     acc_r = acc_r·alpha_r + Σ_c P[r][c]·V_c: V rows as vectors,
///                      P broadcast, 3 vectors (24 outputs) of 4 rows at a time   (accumulate)
///
/// Every K and V element is read from memory once per (sequence, kv head) — all G query heads
/// and Sq tokens of the group share it — and the tile stays in L1 for the R passes.
enum DecodeKernel {}

/// Rows to prefetch while a micro-kernel runs: `count` rows of `rowBytes` bytes, `strideBytes`
/// apart (`DecodeKernel.runPrefetch`). `scores` asks for the tile's V rows (read in place), one
/// per key as it goes, and `accumulate` for the next tile's K rows, a few before each of its
/// dim passes, so memory works while the FMAs run instead of the next pass stalling on it.
///
/// Measured (`tessera decode --batch 4 --heads 32 --kv-heads 8 --kv-seq 32768 --dtype f16`,
/// same binary with and without, 6 interleaved runs each, medians): 6.26 → 6.92 GB/s on 1
/// thread, 11.8 → 14.7 GB/s on 2. Issuing a whole tile's 256 lines at its start did not help
/// (the burst fills the core's miss buffers and the compute's loads queue behind it).
struct RowPrefetch {
  let base: UnsafeRawPointer
  let strideBytes: Int
  let rowBytes: Int
  let count: Int

  @inline(__always)
  func row(_ j: Int) {
    if j < count {
      let row = base + j &* strideBytes
      var off = 0
      while off &+ 256 <= rowBytes {
        prefetch(row + off)
        prefetch(row + (off &+ 64))
        prefetch(row + (off &+ 128))
        prefetch(row + (off &+ 192))
        off &+= 256
      }
      while off < rowBytes {
        prefetch(row + off)
        off &+= 64
      }
    }
  }

  /// Rows per pass when a kernel spreads them evenly over `passes` passes (a division: asked
  /// once per kernel call, not per pass).
  @inline(__always)
  func perPass(_ passes: Int) -> Int { (count &+ passes &- 1) / passes }

  /// The rows of pass `pass` when each pass asks for `perPass` rows.
  @inline(__always)
  func rows(ofPass pass: Int, perPass: Int) {
    rows(pass &* perPass, (pass &+ 1) &* perPass)
  }

  /// Rows [lo, hi) (cut at `count`). Rows that touch (a cache's rows of one head or one paged
  /// block) are one byte range, asked for line by line: ~1.5 instructions per line against ~6
  /// row by row (callgrind: 25 instructions per 4-line row in `accumulate`).
  @inline(__always)
  func rows(_ lo: Int, _ hi: Int) {
    let end = hi < count ? hi : count
    guard lo < end else { return }
    if strideBytes == rowBytes {
      var line = base + lo &* strideBytes
      let stop = base + end &* strideBytes
      while line < stop {
        prefetch(line)
        line += 64
      }
    } else {
      for j in lo..<end { row(j) }
    }
  }
}

extension DecodeKernel {
  /// Lane i of the result is the sum of the lanes of `a_i` (8×8 transpose-reduce: 3 levels of
  /// shuffle+add instead of 8 horizontal reductions).
  ///
  /// Written so LLVM picks one shuffle per vector and level: 128-bit halves by a blend and a
  /// `vperm2f128`, 64-bit pairs by `vunpcklpd`/`vunpckhpd` (SIMD4<Double> views), 32-bit pairs
  /// by `vshufps` — 12 shuffles and 4 blends. Built from `SIMD8` element lists at the second
  /// level, LLVM emitted 48 (`vinsertps`, `vextractf128`, …): the scores kernel ran at 74
  /// GFLOP/s from L1 with that, 87 now, 102 without any reduction (Swift micro-benchmark, D=128,
  /// 4 rows × 64 Float16 keys, best of 60).
  @inline(__always)
  static func reduce8(
    _ a0: Vec, _ a1: Vec, _ a2: Vec, _ a3: Vec, _ a4: Vec, _ a5: Vec, _ a6: Vec, _ a7: Vec
  ) -> Vec {
    // [a_i low 4 + high 4 | a_{i+4} high 4 + low 4]
    let b0 =
      Vec(lowHalf: a0.lowHalf, highHalf: a4.highHalf)
      + Vec(lowHalf: a0.highHalf, highHalf: a4.lowHalf)
    let b1 =
      Vec(lowHalf: a1.lowHalf, highHalf: a5.highHalf)
      + Vec(lowHalf: a1.highHalf, highHalf: a5.lowHalf)
    let b2 =
      Vec(lowHalf: a2.lowHalf, highHalf: a6.highHalf)
      + Vec(lowHalf: a2.highHalf, highHalf: a6.lowHalf)
    let b3 =
      Vec(lowHalf: a3.lowHalf, highHalf: a7.highHalf)
      + Vec(lowHalf: a3.highHalf, highHalf: a7.lowHalf)
    // Lanes 0–1 plus lanes 2–3 of each half, as 64-bit lanes:
    // [a0 a0 a1 a1 | a4 a4 a5 a5] and [a2 a2 a3 a3 | a6 a6 a7 a7].
    let d0 = doubleLanes(b0)
    let d1 = doubleLanes(b1)
    let d2 = doubleLanes(b2)
    let d3 = doubleLanes(b3)
    let c01 =
      floatLanes(SIMD4(d0[0], d1[0], d0[2], d1[2]))
      + floatLanes(SIMD4(d0[1], d1[1], d0[3], d1[3]))
    let c23 =
      floatLanes(SIMD4(d2[0], d3[0], d2[2], d3[2]))
      + floatLanes(SIMD4(d2[1], d3[1], d2[3], d3[3]))
    // [a0 a1 a2 a3 | a4 a5 a6 a7]
    return Vec(c01[0], c01[2], c23[0], c23[2], c01[4], c01[6], c23[4], c23[6])
      + Vec(c01[1], c01[3], c23[1], c23[3], c01[5], c01[7], c23[5], c23[7])
  }

  /// The bits of `v` as 4 lanes of 64 bits (2 floats each), for the 64-bit interleaves of
  /// `reduce8`; `floatLanes` is the inverse. No arithmetic is done on them as Double.
  @inline(__always)
  static func doubleLanes(_ v: Vec) -> SIMD4<Double> { unsafeBitCast(v, to: SIMD4<Double>.self) }

  @inline(__always)
  static func floatLanes(_ v: SIMD4<Double>) -> Vec { unsafeBitCast(v, to: Vec.self) }

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

  /// `accumulate` for 4 consecutive rows: blocks of 24 output dims (12 accumulators), then
  /// blocks of 16 (8 accumulators, the FMA pipes' 2 × latency 4) and a last 8 for the dims that
  /// do not split into 24s; P broadcast per (row, key). `Rows` says how V is stored (Float32
  /// tile or 16-bit cache rows, `strideBytes` apart). `prefetch` rows are asked for a few
  /// before each block.
  ///
  /// Why 24: a block's 4 broadcasts serve 12 FMAs instead of 8, so the kernel issues fewer
  /// instructions per FMA (15 against 17.5 per 8 FMAs in the compiled loops), and this kernel
  /// is bound by instruction issue more than by the FMA pipes (callgrind: ~460 instructions
  /// per key and kv head for 128 FMAs at D = 128, G = 4). It needs the 16-bit rows widened by
  /// the C helpers (`tessera_widen_half8`): through `SIMD8<Float>(SIMD8<Float16>)` LLVM
  /// spilled 6 accumulators per key here. In C, from L1: 78–84 against 57–68 GFLOP/s.
  @inline(__always)
  static func accumulateFourRows<Rows: RowElements>(
    _: Rows.Type, probabilities p: UnsafePointer<Float>, scoreStride: Int, keyCount: Int,
    values: UnsafeRawPointer, strideBytes: Int, paddedValueDim: Int,
    alpha: UnsafePointer<Float>, acc: UnsafeMutablePointer<Float>, prefetch: RowPrefetch? = nil,
    split: Int = .max, second: UnsafeRawPointer? = nil, prefetch2: RowPrefetch? = nil
  ) {
    // Keys [0, firstEnd) are rows of `values`, the rest rows of `second` (a tile over 2 paged
    // blocks), in key order within each pass.
    let firstEnd = split < keyCount ? split : keyCount
    let secondBase = second ?? values
    let a0 = Vec(repeating: alpha[0])
    let a1 = Vec(repeating: alpha[1])
    let a2 = Vec(repeating: alpha[2])
    let a3 = Vec(repeating: alpha[3])
    let rowBytes = paddedValueDim &* 4
    let out = UnsafeMutableRawPointer(acc)
    let p1 = p + scoreStride
    let p2 = p1 + scoreStride
    let p3 = p2 + scoreStride
    // The prefetch rows are spread over the passes (a few rows before each pass's key loop):
    // asked for inside the key loop, the checks and the loop cost registers, and LLVM spilled
    // the broadcasts of the FMA loop to the stack.
    // Blocks of 8 dims: k passes of 24 (12 accumulators) and the rest in passes of 16 (and a
    // last 8): k is the largest with 3k ≤ blocks and blocks − 3k even.
    let blocks = paddedValueDim &>> 3
    var wide = blocks / 3
    if (blocks &- 3 &* wide) & 1 != 0 { wide &-= 1 }
    if wide < 0 { wide = 0 }
    let passes = wide &+ (blocks &- 3 &* wide &+ 1) / 2
    let perPass = prefetch?.perPass(passes) ?? 0
    let perPass2 = prefetch2?.perPass(passes) ?? 0
    var pass = 0
    var d = 0
    while pass < wide {
      prefetch?.rows(ofPass: pass, perPass: perPass)
      prefetch2?.rows(ofPass: pass, perPass: perPass2)
      let offset = d &* 4
      var o00 = out.loadUnaligned(fromByteOffset: offset, as: Vec.self) * a0
      var o01 = out.loadUnaligned(fromByteOffset: offset &+ 32, as: Vec.self) * a0
      var o02 = out.loadUnaligned(fromByteOffset: offset &+ 64, as: Vec.self) * a0
      var o10 = out.loadUnaligned(fromByteOffset: rowBytes &+ offset, as: Vec.self) * a1
      var o11 = out.loadUnaligned(fromByteOffset: rowBytes &+ offset &+ 32, as: Vec.self) * a1
      var o12 = out.loadUnaligned(fromByteOffset: rowBytes &+ offset &+ 64, as: Vec.self) * a1
      var o20 = out.loadUnaligned(fromByteOffset: 2 &* rowBytes &+ offset, as: Vec.self) * a2
      var o21 =
        out.loadUnaligned(fromByteOffset: 2 &* rowBytes &+ offset &+ 32, as: Vec.self) * a2
      var o22 =
        out.loadUnaligned(fromByteOffset: 2 &* rowBytes &+ offset &+ 64, as: Vec.self) * a2
      var o30 = out.loadUnaligned(fromByteOffset: 3 &* rowBytes &+ offset, as: Vec.self) * a3
      var o31 =
        out.loadUnaligned(fromByteOffset: 3 &* rowBytes &+ offset &+ 32, as: Vec.self) * a3
      var o32 =
        out.loadUnaligned(fromByteOffset: 3 &* rowBytes &+ offset &+ 64, as: Vec.self) * a3
      @inline(__always)
      func key(_ c: Int, _ v: UnsafeRawPointer) {
        let x0 = Rows.load(v, d)
        let x1 = Rows.load(v, d &+ 8)
        let x2 = Rows.load(v, d &+ 16)
        let w0 = Vec(repeating: p[c])
        o00 = fma(w0, x0, o00)
        o01 = fma(w0, x1, o01)
        o02 = fma(w0, x2, o02)
        let w1 = Vec(repeating: p1[c])
        o10 = fma(w1, x0, o10)
        o11 = fma(w1, x1, o11)
        o12 = fma(w1, x2, o12)
        let w2 = Vec(repeating: p2[c])
        o20 = fma(w2, x0, o20)
        o21 = fma(w2, x1, o21)
        o22 = fma(w2, x2, o22)
        let w3 = Vec(repeating: p3[c])
        o30 = fma(w3, x0, o30)
        o31 = fma(w3, x1, o31)
        o32 = fma(w3, x2, o32)
      }
      var v = values
      var c = 0
      while c < firstEnd {
        key(c, v)
        v += strideBytes
        c &+= 1
      }
      v = secondBase
      while c < keyCount {
        key(c, v)
        v += strideBytes
        c &+= 1
      }
      out.storeBytes(of: o00, toByteOffset: offset, as: Vec.self)
      out.storeBytes(of: o01, toByteOffset: offset &+ 32, as: Vec.self)
      out.storeBytes(of: o02, toByteOffset: offset &+ 64, as: Vec.self)
      out.storeBytes(of: o10, toByteOffset: rowBytes &+ offset, as: Vec.self)
      out.storeBytes(of: o11, toByteOffset: rowBytes &+ offset &+ 32, as: Vec.self)
      out.storeBytes(of: o12, toByteOffset: rowBytes &+ offset &+ 64, as: Vec.self)
      out.storeBytes(of: o20, toByteOffset: 2 &* rowBytes &+ offset, as: Vec.self)
      out.storeBytes(of: o21, toByteOffset: 2 &* rowBytes &+ offset &+ 32, as: Vec.self)
      out.storeBytes(of: o22, toByteOffset: 2 &* rowBytes &+ offset &+ 64, as: Vec.self)
      out.storeBytes(of: o30, toByteOffset: 3 &* rowBytes &+ offset, as: Vec.self)
      out.storeBytes(of: o31, toByteOffset: 3 &* rowBytes &+ offset &+ 32, as: Vec.self)
      out.storeBytes(of: o32, toByteOffset: 3 &* rowBytes &+ offset &+ 64, as: Vec.self)
      d &+= 24
      pass &+= 1
    }
    while d < paddedValueDim {
      prefetch?.rows(ofPass: pass, perPass: perPass)
      prefetch2?.rows(ofPass: pass, perPass: perPass2)
      pass &+= 1
      let offset = d &* 4
      // Two vectors per row unless only 8 dims remain (then the second is the first again and
      // is not stored).
      let second = d &+ 16 <= paddedValueDim ? 32 : 0
      let secondElement = second / 4
      var o00 = out.loadUnaligned(fromByteOffset: offset, as: Vec.self) * a0
      var o01 = out.loadUnaligned(fromByteOffset: offset &+ second, as: Vec.self) * a0
      var o10 = out.loadUnaligned(fromByteOffset: rowBytes &+ offset, as: Vec.self) * a1
      var o11 = out.loadUnaligned(fromByteOffset: rowBytes &+ offset &+ second, as: Vec.self) * a1
      var o20 = out.loadUnaligned(fromByteOffset: 2 &* rowBytes &+ offset, as: Vec.self) * a2
      var o21 =
        out.loadUnaligned(fromByteOffset: 2 &* rowBytes &+ offset &+ second, as: Vec.self) * a2
      var o30 = out.loadUnaligned(fromByteOffset: 3 &* rowBytes &+ offset, as: Vec.self) * a3
      var o31 =
        out.loadUnaligned(fromByteOffset: 3 &* rowBytes &+ offset &+ second, as: Vec.self) * a3
      @inline(__always)
      func key(_ c: Int, _ v: UnsafeRawPointer) {
        let x0 = Rows.load(v, d)
        let x1 = Rows.load(v, d &+ secondElement)
        let w0 = Vec(repeating: p[c])
        o00 = fma(w0, x0, o00)
        o01 = fma(w0, x1, o01)
        let w1 = Vec(repeating: p1[c])
        o10 = fma(w1, x0, o10)
        o11 = fma(w1, x1, o11)
        let w2 = Vec(repeating: p2[c])
        o20 = fma(w2, x0, o20)
        o21 = fma(w2, x1, o21)
        let w3 = Vec(repeating: p3[c])
        o30 = fma(w3, x0, o30)
        o31 = fma(w3, x1, o31)
      }
      var v = values
      var c = 0
      while c < firstEnd {
        key(c, v)
        v += strideBytes
        c &+= 1
      }
      v = secondBase
      while c < keyCount {
        key(c, v)
        v += strideBytes
        c &+= 1
      }
      out.storeBytes(of: o00, toByteOffset: offset, as: Vec.self)
      out.storeBytes(of: o10, toByteOffset: rowBytes &+ offset, as: Vec.self)
      out.storeBytes(of: o20, toByteOffset: 2 &* rowBytes &+ offset, as: Vec.self)
      out.storeBytes(of: o30, toByteOffset: 3 &* rowBytes &+ offset, as: Vec.self)
      if second != 0 {
        out.storeBytes(of: o01, toByteOffset: offset &+ 32, as: Vec.self)
        out.storeBytes(of: o11, toByteOffset: rowBytes &+ offset &+ 32, as: Vec.self)
        out.storeBytes(of: o21, toByteOffset: 2 &* rowBytes &+ offset &+ 32, as: Vec.self)
        out.storeBytes(of: o31, toByteOffset: 3 &* rowBytes &+ offset &+ 32, as: Vec.self)
        d &+= 16
      } else {
        d &+= 8
      }
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

  /// Softcap and ALiBi on S (log2 units, as `FlashKernel.modifyScoresTile`):
  /// softcap S ← C·tanh(S/C) with C = cap·log2 e; ALiBi S ← S − a_r·|p_r − key| with
  /// a_r = slope·log2 e of row r's head and p_r its token's key position. Only the first
  /// `keyCount` scores of each row are meaningful; the padding up to a multiple of 8 is
  /// overwritten by `softmax`.
  @inline(never)
  static func modify(
    scores: UnsafeMutablePointer<Float>, rows: Int, scoreStride: Int, keyCount: Int,
    firstKey: Int, softcap2: Float, slopes2: UnsafePointer<Float>, diagonal: UnsafePointer<Float>
  ) {
    let capVec = Vec(repeating: softcap2)
    let inverseCap = Vec(repeating: softcap2 > 0 ? 1 / softcap2 : 0)
    let minusTwoLog2e = Vec(repeating: -2 * log2e)
    let one = Vec(repeating: 1)
    let iota = Vec(0, 1, 2, 3, 4, 5, 6, 7)
    for r in 0..<rows {
      let slope = Vec(repeating: slopes2[r])
      let p = Vec(repeating: diagonal[r])
      let s = UnsafeMutableRawPointer(scores + r &* scoreStride)
      var c = 0
      while c < keyCount {
        var x = s.loadUnaligned(fromByteOffset: c &* 4, as: Vec.self)
        if softcap2 > 0 {
          let y = x * inverseCap
          let negative = y .< 0
          let a = y.replacing(with: -y, where: negative)
          let e = exp2(a * minusTwoLog2e)
          let t = (one - e) / (one + e)
          x = capVec * t.replacing(with: -t, where: negative)
        }
        if slopes2[r] != 0 {
          var distance = p - (Vec(repeating: Float(firstKey &+ c)) + iota)
          distance.replace(with: -distance, where: distance .< 0)
          x = fma(-slope, distance, x)
        }
        s.storeBytes(of: x, toByteOffset: c &* 4, as: Vec.self)
        c &+= 8
      }
    }
  }

  /// Online softmax along each row of S over one tile of keys [firstKey, firstKey + keyCount):
  ///
  ///     (masked tiles only) S[r][c] = −∞ outside row r's visible keys [start_r, end_r)
  ///     m_new = max(m, max_c S[r][c]),  P = exp2(S − m_new),  alpha = exp2(m − m_new)
  ///     l = l·alpha + Σ_c P
  ///
  /// A row with no visible key so far keeps m = −∞; subtracting 0 instead keeps P = alpha = 0.
  /// Scores past `keyCount` (to the next multiple of 8) are set to −∞ first.
  @inline(never)
  static func softmax(
    scores: UnsafeMutablePointer<Float>, rows: Int, scoreStride: Int, keyCount: Int,
    firstKey: Int, masked: Bool, rowStart: UnsafePointer<Int>, rowEnd: UnsafePointer<Int>,
    rowMax: UnsafeMutablePointer<Float>, rowSum: UnsafeMutablePointer<Float>,
    alpha: UnsafeMutablePointer<Float>
  ) {
    let padded = (keyCount &+ 7) & ~7
    let minusInfinity = Vec(repeating: -.infinity)
    for r in 0..<rows {
      let row = scores + r &* scoreStride
      var c = keyCount
      while c < padded {
        row[c] = -.infinity
        c &+= 1
      }
      if masked {
        let lo = rowStart[r] &- firstKey
        let hi = rowEnd[r] &- firstKey
        for c in 0..<keyCount where c < lo || c >= hi { row[c] = -.infinity }
      }
      let s = UnsafeMutableRawPointer(row)
      var vmax = minusInfinity
      c = 0
      while c < padded {
        let x = s.loadUnaligned(fromByteOffset: c &* 4, as: Vec.self)
        vmax = vmax.replacing(with: x, where: x .> vmax)
        c &+= 8
      }
      let mOld = rowMax[r]
      let mNew = max(mOld, horizontalMax(vmax))
      let mSafe = Vec(repeating: mNew == -.infinity ? 0 : mNew)
      var sum = Vec()
      c = 0
      while c < padded {
        let p = exp2(s.loadUnaligned(fromByteOffset: c &* 4, as: Vec.self) - mSafe)
        s.storeBytes(of: p, toByteOffset: c &* 4, as: Vec.self)
        sum += p
        c &+= 8
      }
      let a = exp2(Vec(repeating: mOld) - mSafe)[0]
      rowSum[r] = rowSum[r] * a + sum.sum()
      rowMax[r] = mNew
      alpha[r] = a
    }
  }

  /// acc_r = acc_r·alpha_r + Σ_c P[r][c]·V_c for `keyCount` value rows `strideBytes` apart,
  /// stored as `Rows` says; `paddedValueDim` (Dvp, a multiple of 8) floats per accumulator row.
  /// Every output element sees the same operations in the same order whichever block computes
  /// it, so the blocking never changes the bits.
  ///
  /// With `second`, keys [split, keyCount) are rows of `second` instead (a tile over two paged
  /// blocks; 4-row groups only), and `prefetch2` is spread over the passes like `prefetch`.
  @inline(never)
  static func accumulate<Rows: RowElements>(
    _: Rows.Type, probabilities: UnsafePointer<Float>, rows: Int, scoreStride: Int,
    keyCount: Int, values: UnsafeRawPointer, strideBytes: Int, paddedValueDim: Int,
    alpha: UnsafePointer<Float>, acc: UnsafeMutablePointer<Float>, prefetch: RowPrefetch? = nil,
    split: Int = .max, second: UnsafeRawPointer? = nil, prefetch2: RowPrefetch? = nil
  ) {
    precondition(second == nil || rows % 4 == 0, "two value runs need 4-row blocks")
    // Blocks of 4 rows × 16 dims: each V vector is loaded once and meets 4 rows (6 loads per 8
    // FMAs) instead of once per row (9 per 8, from L2 once the tiles outgrow L1).
    var r0 = 0
    while r0 &+ 4 <= rows {
      accumulateFourRows(
        Rows.self, probabilities: probabilities + r0 &* scoreStride, scoreStride: scoreStride,
        keyCount: keyCount, values: values, strideBytes: strideBytes,
        paddedValueDim: paddedValueDim, alpha: alpha + r0, acc: acc + r0 &* paddedValueDim,
        prefetch: r0 == 0 ? prefetch : nil, split: split, second: second,
        prefetch2: r0 == 0 ? prefetch2 : nil)
      r0 &+= 4
    }
    for r in r0..<rows {
      accumulateOneRow(
        Rows.self, probabilities: probabilities + r &* scoreStride, keyCount: keyCount,
        values: values, strideBytes: strideBytes, paddedValueDim: paddedValueDim,
        alpha: alpha[r], acc: acc + r &* paddedValueDim, prefetch: r == 0 ? prefetch : nil)
    }
  }

  /// `accumulate` for one row (rows past the last block of 4). `Rows` says how V is stored.
  @inline(__always)
  static func accumulateOneRow<Rows: RowElements>(
    _: Rows.Type, probabilities p: UnsafePointer<Float>, keyCount: Int,
    values: UnsafeRawPointer, strideBytes: Int, paddedValueDim: Int, alpha: Float,
    acc: UnsafeMutablePointer<Float>, prefetch: RowPrefetch? = nil
  ) {
    let a = Vec(repeating: alpha)
    let out = UnsafeMutableRawPointer(acc)
    // The prefetch rows, spread over the passes as in `accumulateFourRows`.
    let passes = paddedValueDim / 64 + (paddedValueDim % 64) / 32 + (paddedValueDim % 32) / 8
    let perPass = prefetch?.perPass(passes) ?? 0
    var pass = 0
    func prefetchPass() {
      prefetch?.rows(ofPass: pass, perPass: perPass)
      pass &+= 1
    }
    var d = 0
    // 8 vectors (64 outputs) per pass: each key's FMA depends on the previous key's, so a
    // pass needs ≥ 8 independent chains (2 FMA pipes × latency 4 on Zen 3) to run at peak;
    // with 4 it is latency-bound at half speed (measured: ~2× slower per key at G = 4).
    while d &+ 64 <= paddedValueDim {
      prefetchPass()
      let offset = d &* 4
      var o0 = out.loadUnaligned(fromByteOffset: offset, as: Vec.self) * a
      var o1 = out.loadUnaligned(fromByteOffset: offset &+ 32, as: Vec.self) * a
      var o2 = out.loadUnaligned(fromByteOffset: offset &+ 64, as: Vec.self) * a
      var o3 = out.loadUnaligned(fromByteOffset: offset &+ 96, as: Vec.self) * a
      var o4 = out.loadUnaligned(fromByteOffset: offset &+ 128, as: Vec.self) * a
      var o5 = out.loadUnaligned(fromByteOffset: offset &+ 160, as: Vec.self) * a
      var o6 = out.loadUnaligned(fromByteOffset: offset &+ 192, as: Vec.self) * a
      var o7 = out.loadUnaligned(fromByteOffset: offset &+ 224, as: Vec.self) * a
      var v = values
      for c in 0..<keyCount {
        let w = Vec(repeating: p[c])
        o0 = fma(w, Rows.load(v, d), o0)
        o1 = fma(w, Rows.load(v, d &+ 8), o1)
        o2 = fma(w, Rows.load(v, d &+ 16), o2)
        o3 = fma(w, Rows.load(v, d &+ 24), o3)
        o4 = fma(w, Rows.load(v, d &+ 32), o4)
        o5 = fma(w, Rows.load(v, d &+ 40), o5)
        o6 = fma(w, Rows.load(v, d &+ 48), o6)
        o7 = fma(w, Rows.load(v, d &+ 56), o7)
        v += strideBytes
      }
      out.storeBytes(of: o0, toByteOffset: offset, as: Vec.self)
      out.storeBytes(of: o1, toByteOffset: offset &+ 32, as: Vec.self)
      out.storeBytes(of: o2, toByteOffset: offset &+ 64, as: Vec.self)
      out.storeBytes(of: o3, toByteOffset: offset &+ 96, as: Vec.self)
      out.storeBytes(of: o4, toByteOffset: offset &+ 128, as: Vec.self)
      out.storeBytes(of: o5, toByteOffset: offset &+ 160, as: Vec.self)
      out.storeBytes(of: o6, toByteOffset: offset &+ 192, as: Vec.self)
      out.storeBytes(of: o7, toByteOffset: offset &+ 224, as: Vec.self)
      d &+= 64
    }
    while d &+ 32 <= paddedValueDim {
      prefetchPass()
      let offset = d &* 4
      var o0 = out.loadUnaligned(fromByteOffset: offset, as: Vec.self) * a
      var o1 = out.loadUnaligned(fromByteOffset: offset &+ 32, as: Vec.self) * a
      var o2 = out.loadUnaligned(fromByteOffset: offset &+ 64, as: Vec.self) * a
      var o3 = out.loadUnaligned(fromByteOffset: offset &+ 96, as: Vec.self) * a
      var v = values
      for c in 0..<keyCount {
        let w = Vec(repeating: p[c])
        o0 = fma(w, Rows.load(v, d), o0)
        o1 = fma(w, Rows.load(v, d &+ 8), o1)
        o2 = fma(w, Rows.load(v, d &+ 16), o2)
        o3 = fma(w, Rows.load(v, d &+ 24), o3)
        v += strideBytes
      }
      out.storeBytes(of: o0, toByteOffset: offset, as: Vec.self)
      out.storeBytes(of: o1, toByteOffset: offset &+ 32, as: Vec.self)
      out.storeBytes(of: o2, toByteOffset: offset &+ 64, as: Vec.self)
      out.storeBytes(of: o3, toByteOffset: offset &+ 96, as: Vec.self)
      d &+= 32
    }
    while d < paddedValueDim {
      prefetchPass()
      let offset = d &* 4
      var o0 = out.loadUnaligned(fromByteOffset: offset, as: Vec.self) * a
      var v = values
      for c in 0..<keyCount {
        o0 = fma(Vec(repeating: p[c]), Rows.load(v, d), o0)
        v += strideBytes
      }
      out.storeBytes(of: o0, toByteOffset: offset, as: Vec.self)
      d &+= 8
    }

  }

  /// Copies `rows` rows of `width` elements stored as `type` (`sourceStride` bytes apart) into
  /// Float rows `destinationStride` floats apart, zero-filling each row from `width` to
  /// `paddedWidth`. Float16 widens 8 lanes per `vcvtph2ps` (with F16C), BFloat16 is a 16-bit
  /// shift of a zero-extended load.
  @inline(never)
  static func widenRows(
    _ source: UnsafeRawPointer, type: ScalarType, sourceStride: Int, rows: Int, width: Int,
    paddedWidth: Int, into destination: UnsafeMutablePointer<Float>, destinationStride: Int
  ) {
    let vectorWidth = width & ~7
    for r in 0..<rows {
      let src = source + r &* sourceStride
      let dst = destination + r &* destinationStride
      let out = UnsafeMutableRawPointer(dst)
      var d = 0
      switch type {
      case .float32:
        while d < vectorWidth {
          out.storeBytes(
            of: src.loadUnaligned(fromByteOffset: d &* 4, as: Vec.self), toByteOffset: d &* 4,
            as: Vec.self)
          d &+= 8
        }
      case .float16:
        while d < vectorWidth {
          let h = src.loadUnaligned(fromByteOffset: d &* 2, as: SIMD8<Float16>.self)
          out.storeBytes(of: Vec(h), toByteOffset: d &* 4, as: Vec.self)
          d &+= 8
        }
      case .bfloat16:
        while d < vectorWidth {
          let h = src.loadUnaligned(fromByteOffset: d &* 2, as: SIMD8<UInt16>.self)
          let bits = SIMD8<UInt32>(truncatingIfNeeded: h) &<< 16
          out.storeBytes(of: unsafeBitCast(bits, to: Vec.self), toByteOffset: d &* 4, as: Vec.self)
          d &+= 8
        }
      }
      while d < width {
        dst[d] = StorageConversion.load(src, as: type, index: d)
        d &+= 1
      }
      while d < paddedWidth {
        dst[d] = 0
        d &+= 1
      }
    }
  }
}
