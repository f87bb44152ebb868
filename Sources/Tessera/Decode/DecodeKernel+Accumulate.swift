/// The P·V micro-kernels of decode (acc = acc·alpha + P·V for a tile of keys); see
/// `DecodeKernel`.
extension DecodeKernel {
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
    precondition(firstEnd == keyCount || second != nil, "keys past the split need a second run")
    let secondBase = second ?? values
    let a0 = Vec(repeating: alpha[0])
    let a1 = Vec(repeating: alpha[1])
    let a2 = Vec(repeating: alpha[2])
    let a3 = Vec(repeating: alpha[3])
    let rowBytes = paddedValueDim &* 4
    let out = UnsafeMutableRawPointer(acc)
    // The rows of P are `DecodeScratch.scoreStride` apart, a constant: the 4 broadcasts of a
    // key address one register plus fixed displacements, which leaves general registers for
    // the prefetch and the loop.
    precondition(scoreStride == DecodeScratch.scoreStride, "P rows must be scoreStride apart")
    let pr = UnsafeRawPointer(p)
    let pRowBytes = DecodeScratch.scoreStride &* 4
    // The prefetch lines are dealt out to the passes and asked for one per key inside each
    // pass's key loop (`PrefetchLines`); the check and address use general registers, so the
    // 12 accumulators, 3 V vectors and the broadcast still fill the 16 vector registers
    // without a spill.
    // Blocks of 8 dims: k passes of 24 (12 accumulators) and the rest in passes of 16 (and a
    // last 8): k is the largest with 3k ≤ blocks and blocks − 3k even.
    let blocks = paddedValueDim &>> 3
    var wide = blocks / 3
    if (blocks &- 3 &* wide) & 1 != 0 { wide &-= 1 }
    if wide < 0 { wide = 0 }
    let passes = wide &+ (blocks &- 3 &* wide &+ 1) / 2
    var lines = PrefetchLines(prefetch, prefetch2, passes: passes, keys: keyCount)
    var pass = 0
    var d = 0
    while pass < wide {
      let share = lines.nextPass()
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
        share.ask(c)
        let x0 = Rows.load(v, d)
        let x1 = Rows.load(v, d &+ 8)
        let x2 = Rows.load(v, d &+ 16)
        let w0 = Vec(repeating: pr.load(fromByteOffset: c &* 4, as: Float.self))
        o00 = fma(w0, x0, o00)
        o01 = fma(w0, x1, o01)
        o02 = fma(w0, x2, o02)
        let w1 = Vec(repeating: pr.load(fromByteOffset: pRowBytes &+ c &* 4, as: Float.self))
        o10 = fma(w1, x0, o10)
        o11 = fma(w1, x1, o11)
        o12 = fma(w1, x2, o12)
        let w2 = Vec(repeating: pr.load(fromByteOffset: 2 &* pRowBytes &+ c &* 4, as: Float.self))
        o20 = fma(w2, x0, o20)
        o21 = fma(w2, x1, o21)
        o22 = fma(w2, x2, o22)
        let w3 = Vec(repeating: pr.load(fromByteOffset: 3 &* pRowBytes &+ c &* 4, as: Float.self))
        o30 = fma(w3, x0, o30)
        o31 = fma(w3, x1, o31)
        o32 = fma(w3, x2, o32)
      }
      forEachKey(
        firstEnd: firstEnd, keyCount: keyCount, first: values, second: secondBase,
        strideBytes: strideBytes, key)
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
      let share = lines.nextPass()
      let offset = d &* 4
      // Two vectors per row unless only 8 dims remain (then the second is the first again and
      // is not stored).
      let secondOffset = d &+ 16 <= paddedValueDim ? 32 : 0
      let secondElement = secondOffset / 4
      var o00 = out.loadUnaligned(fromByteOffset: offset, as: Vec.self) * a0
      var o01 = out.loadUnaligned(fromByteOffset: offset &+ secondOffset, as: Vec.self) * a0
      var o10 = out.loadUnaligned(fromByteOffset: rowBytes &+ offset, as: Vec.self) * a1
      var o11 =
        out.loadUnaligned(fromByteOffset: rowBytes &+ offset &+ secondOffset, as: Vec.self) * a1
      var o20 = out.loadUnaligned(fromByteOffset: 2 &* rowBytes &+ offset, as: Vec.self) * a2
      var o21 =
        out.loadUnaligned(fromByteOffset: 2 &* rowBytes &+ offset &+ secondOffset, as: Vec.self)
        * a2
      var o30 = out.loadUnaligned(fromByteOffset: 3 &* rowBytes &+ offset, as: Vec.self) * a3
      var o31 =
        out.loadUnaligned(fromByteOffset: 3 &* rowBytes &+ offset &+ secondOffset, as: Vec.self)
        * a3
      @inline(__always)
      func key(_ c: Int, _ v: UnsafeRawPointer) {
        share.ask(c)
        let x0 = Rows.load(v, d)
        let x1 = Rows.load(v, d &+ secondElement)
        let w0 = Vec(repeating: pr.load(fromByteOffset: c &* 4, as: Float.self))
        o00 = fma(w0, x0, o00)
        o01 = fma(w0, x1, o01)
        let w1 = Vec(repeating: pr.load(fromByteOffset: pRowBytes &+ c &* 4, as: Float.self))
        o10 = fma(w1, x0, o10)
        o11 = fma(w1, x1, o11)
        let w2 = Vec(repeating: pr.load(fromByteOffset: 2 &* pRowBytes &+ c &* 4, as: Float.self))
        o20 = fma(w2, x0, o20)
        o21 = fma(w2, x1, o21)
        let w3 = Vec(repeating: pr.load(fromByteOffset: 3 &* pRowBytes &+ c &* 4, as: Float.self))
        o30 = fma(w3, x0, o30)
        o31 = fma(w3, x1, o31)
      }
      forEachKey(
        firstEnd: firstEnd, keyCount: keyCount, first: values, second: secondBase,
        strideBytes: strideBytes, key)
      out.storeBytes(of: o00, toByteOffset: offset, as: Vec.self)
      out.storeBytes(of: o10, toByteOffset: rowBytes &+ offset, as: Vec.self)
      out.storeBytes(of: o20, toByteOffset: 2 &* rowBytes &+ offset, as: Vec.self)
      out.storeBytes(of: o30, toByteOffset: 3 &* rowBytes &+ offset, as: Vec.self)
      if secondOffset != 0 {
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

  /// Calls `body(c, row)` for keys c in 0..<keyCount in order: rows of `first` for c < firstEnd,
  /// then rows of `second` (a P·V pass over one or two runs of value rows).
  @inline(__always)
  static func forEachKey(
    firstEnd: Int, keyCount: Int, first: UnsafeRawPointer, second: UnsafeRawPointer,
    strideBytes: Int, _ body: (Int, UnsafeRawPointer) -> Void
  ) {
    var v = first
    var c = 0
    while c < firstEnd {
      body(c, v)
      v += strideBytes
      c &+= 1
    }
    v = second
    while c < keyCount {
      body(c, v)
      v += strideBytes
      c &+= 1
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
    // The prefetch lines, dealt out to the passes as in `accumulateFourRows`, two per key (2
    // passes at D = 128: 64 lines each for 32 keys).
    let passes = paddedValueDim / 64 + (paddedValueDim % 64) / 32 + (paddedValueDim % 32) / 8
    var lines = PrefetchLines(prefetch, nil, passes: passes, keys: keyCount, linesPerKey: 2)
    var d = 0
    // 8 vectors (64 outputs) per pass: each key's FMA depends on the previous key's, so a
    // pass needs ≥ 8 independent chains (2 FMA pipes × latency 4 on Zen 3) to run at peak;
    // with 4 it is latency-bound at half speed (measured: ~2× slower per key at G = 4).
    while d &+ 64 <= paddedValueDim {
      let share = lines.nextPass()
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
        share.askTwo(c)
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
      let share = lines.nextPass()
      let offset = d &* 4
      var o0 = out.loadUnaligned(fromByteOffset: offset, as: Vec.self) * a
      var o1 = out.loadUnaligned(fromByteOffset: offset &+ 32, as: Vec.self) * a
      var o2 = out.loadUnaligned(fromByteOffset: offset &+ 64, as: Vec.self) * a
      var o3 = out.loadUnaligned(fromByteOffset: offset &+ 96, as: Vec.self) * a
      var v = values
      for c in 0..<keyCount {
        share.askTwo(c)
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
      let share = lines.nextPass()
      let offset = d &* 4
      var o0 = out.loadUnaligned(fromByteOffset: offset, as: Vec.self) * a
      var v = values
      for c in 0..<keyCount {
        share.askTwo(c)
        o0 = fma(Vec(repeating: p[c]), Rows.load(v, d), o0)
        v += strideBytes
      }
      out.storeBytes(of: o0, toByteOffset: offset, as: Vec.self)
      d &+= 8
    }

  }
}
