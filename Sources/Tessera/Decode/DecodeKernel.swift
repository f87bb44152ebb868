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

/// Rows to prefetch while a micro-kernel runs: `count` rows of `rowBytes` bytes that touch (a
/// cache's rows of one head, within one paged block; `DecodeKernel.runPrefetch`). `scores`
/// asks for the tile's V rows, a row per key as it goes, and `accumulate` for the next tile's
/// K rows, a line per key inside the key loops of its dim passes (`PrefetchLines`), so memory
/// works while the FMAs run instead of the next phase stalling on it.
///
/// Measured (`tessera decode --batch 4 --heads 32 --kv-heads 8 --kv-seq 32768 --dtype f16`,
/// same binary with and without, 6 interleaved runs each, medians): 6.26 → 6.92 GB/s on 1
/// thread, 11.8 → 14.7 GB/s on 2. Issuing a whole tile's 256 lines at its start did not help
/// (the burst fills the core's miss buffers and the compute's loads queue behind it).
struct RowPrefetch {
  let base: UnsafeRawPointer
  let rowBytes: Int
  let count: Int

  @inline(__always)
  func row(_ j: Int) {
    if j < count {
      let row = base + j &* rowBytes
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

  /// The cache lines the rows touch: the first one and how many.
  var lines: (first: UnsafeRawPointer, count: Int) {
    let start = UInt(bitPattern: base) & ~63
    let end = (UInt(bitPattern: base + count &* rowBytes) &+ 63) & ~63
    return (UnsafeRawPointer(bitPattern: start)!, Int((end &- start) &>> 6))
  }
}

/// The lines of up to two `RowPrefetch` runs (the next tile's K rows, in key order), dealt out
/// to the dim passes of a P·V call in equal shares; each pass asks for its share one line per
/// key inside its key loop (`PassLines.ask`).
///
/// Why inside the loop: asked for a few rows at a time before each pass (24 lines at D = 128,
/// 6 passes), the burst found the core's ~24 L1 miss buffers still busy, and `prefetcht0`
/// waits for one: `perf` put 15 % of `accumulate`'s samples on the instruction after that
/// burst loop at 2 threads. One line per key keeps the requests at about the rate memory
/// returns them. `tessera decode --batch 4 --heads 32 --kv-heads 8 --dim 128 --kv-seq 32768
/// --dtype f16 --threads 2`, the old and new `accumulate` compiled side by side and alternated
/// call by call in one process (median of 30–40 per-pair time ratios per run): 2 threads
/// 1.5–7 % faster in 6 of 7 runs (median 3.5 %; the spread is the machine's), paged blocks of
/// 16: 3–6 % (3 runs), 1 thread 0–4.5 % (3 runs), MHA (32/32 heads, 8192 keys) 1 %. Asking
/// inside the scores loop the same way was 3–7 % slower than a row per key after each pair.
struct PrefetchLines {
  private var first: UnsafeRawPointer
  private var firstLeft: Int
  private var second: UnsafeRawPointer
  private var secondLeft: Int
  private let perPass: Int
  private let inLoopMax: Int

  /// Lines of `a` then `b`, over `passes` passes of `keys` keys each, asked for
  /// `linesPerKey` per key (`PassLines.ask` or `askTwo`).
  init(_ a: RowPrefetch?, _ b: RowPrefetch?, passes: Int, keys: Int, linesPerKey: Int = 1) {
    let none = (first: UnsafeRawPointer(bitPattern: 64)!, count: 0)
    let la = a?.lines ?? none
    let lb = b?.lines ?? none
    first = la.first
    firstLeft = la.count
    second = lb.first
    secondLeft = lb.count
    let total = la.count &+ lb.count
    perPass = passes > 0 ? (total &+ passes &- 1) / passes : total
    inLoopMax = keys &* linesPerKey
  }

  /// The next pass's share: the lines one run can give one per key; the rest of the share
  /// (a share that straddles the two runs, or more lines than the pass has keys: short tiles)
  /// is asked for here at once.
  @inline(__always)
  mutating func nextPass() -> PassLines {
    var n = perPass
    moveToSecondWhenFirstIsDone()
    let inLoop = min(n, inLoopMax, firstLeft)
    let share = PassLines(base: first, count: inLoop)
    first += inLoop &* 64
    firstLeft &-= inLoop
    n &-= inLoop
    while n > 0 && firstLeft &+ secondLeft > 0 {
      moveToSecondWhenFirstIsDone()
      prefetch(first)
      first += 64
      firstLeft &-= 1
      n &-= 1
    }
    return share
  }

  /// Once the first run's lines are all dealt, the second run's are next.
  @inline(__always)
  private mutating func moveToSecondWhenFirstIsDone() {
    if firstLeft == 0 {
      first = second
      firstLeft = secondLeft
      secondLeft = 0
    }
  }
}

/// One pass's lines asked for inside its key loop: `count` lines from `base`, line c for key c
/// (`ask`), or lines 2c and 2c + 1 (`askTwo`: the one-row kernel, whose passes are 64 dims
/// wide and so fewer).
struct PassLines {
  let base: UnsafeRawPointer
  let count: Int

  @inline(__always)
  func ask(_ c: Int) {
    if c < count { prefetch(base + c &* 64) }
  }

  @inline(__always)
  func askTwo(_ c: Int) {
    let i = c &* 2
    if i < count { prefetch(base + i &* 64) }
    if i &+ 1 < count { prefetch(base + (i &+ 1) &* 64) }
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

  /// Copies `rows` rows of `width` elements stored as `type` (`sourceStride` bytes apart) into
  /// Float rows `destinationStride` floats apart, zero-filling each row from `width` to
  /// `paddedWidth`, 8 lanes at a time with the in-register kernels' loads (`Float16Elements`,
  /// `BFloat16Elements`: the same values).
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
          out.storeBytes(of: Float16Elements.load(src, d), toByteOffset: d &* 4, as: Vec.self)
          d &+= 8
        }
      case .bfloat16:
        while d < vectorWidth {
          out.storeBytes(of: BFloat16Elements.load(src, d), toByteOffset: d &* 4, as: Vec.self)
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
