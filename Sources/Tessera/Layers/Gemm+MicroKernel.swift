extension Gemm {
  /// The 6×16 micro-kernel: `C[0..<6][0..<16] = α·(Ã_p · B̃_q) + β·C` over `kc` steps, where
  /// Ã_p is a packed kc×6 micro-panel and B̃_q a packed kc×16 micro-panel (see `packA`,
  /// `packB`). C rows are `ldc` floats apart. β = 0 never reads C.
  ///
  /// Registers: 12 accumulators c[r][h] (row r, half h of 16 columns), 2 B̃ vectors, 1
  /// broadcast of Ã: 15 of the 16 ymm registers. Per step: 12 FMAs, 2 loads, 6 broadcasts.
  @inline(never)
  static func microKernel6x16(
    kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
    c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float
  ) {
    // Start C's 12 lines (6 rows × 64 bytes, two lines per row when unaligned) on their way
    // now; they are needed after the kc steps (see `prefetch`).
    let row = ldc &* 4
    let c0 = UnsafeRawPointer(c)
    prefetch(c0)
    prefetch(c0 + 60)
    prefetch(c0 + row)
    prefetch(c0 + (row &+ 60))
    prefetch(c0 + 2 &* row)
    prefetch(c0 + (2 &* row &+ 60))
    prefetch(c0 + 3 &* row)
    prefetch(c0 + (3 &* row &+ 60))
    prefetch(c0 + 4 &* row)
    prefetch(c0 + (4 &* row &+ 60))
    prefetch(c0 + 5 &* row)
    prefetch(c0 + (5 &* row &+ 60))
    var c00 = Vec(), c01 = Vec(), c10 = Vec(), c11 = Vec(), c20 = Vec(), c21 = Vec()
    var c30 = Vec(), c31 = Vec(), c40 = Vec(), c41 = Vec(), c50 = Vec(), c51 = Vec()
    var ap = a
    var bp = UnsafeRawPointer(b)
    var k = kc
    while k > 0 {
      let b0 = bp.loadUnaligned(as: Vec.self)
      let b1 = bp.loadUnaligned(fromByteOffset: 32, as: Vec.self)
      var x = Vec(repeating: ap[0])
      c00 = fma(x, b0, c00)
      c01 = fma(x, b1, c01)
      x = Vec(repeating: ap[1])
      c10 = fma(x, b0, c10)
      c11 = fma(x, b1, c11)
      x = Vec(repeating: ap[2])
      c20 = fma(x, b0, c20)
      c21 = fma(x, b1, c21)
      x = Vec(repeating: ap[3])
      c30 = fma(x, b0, c30)
      c31 = fma(x, b1, c31)
      x = Vec(repeating: ap[4])
      c40 = fma(x, b0, c40)
      c41 = fma(x, b1, c41)
      x = Vec(repeating: ap[5])
      c50 = fma(x, b0, c50)
      c51 = fma(x, b1, c51)
      ap += 6
      bp += 64
      k &-= 1
    }
    let va = Vec(repeating: alpha)
    let out = UnsafeMutableRawPointer(c)
    if beta == 0 {
      out.storeBytes(of: va * c00, as: Vec.self)
      out.storeBytes(of: va * c01, toByteOffset: 32, as: Vec.self)
      out.storeBytes(of: va * c10, toByteOffset: row, as: Vec.self)
      out.storeBytes(of: va * c11, toByteOffset: row &+ 32, as: Vec.self)
      out.storeBytes(of: va * c20, toByteOffset: 2 &* row, as: Vec.self)
      out.storeBytes(of: va * c21, toByteOffset: 2 &* row &+ 32, as: Vec.self)
      out.storeBytes(of: va * c30, toByteOffset: 3 &* row, as: Vec.self)
      out.storeBytes(of: va * c31, toByteOffset: 3 &* row &+ 32, as: Vec.self)
      out.storeBytes(of: va * c40, toByteOffset: 4 &* row, as: Vec.self)
      out.storeBytes(of: va * c41, toByteOffset: 4 &* row &+ 32, as: Vec.self)
      out.storeBytes(of: va * c50, toByteOffset: 5 &* row, as: Vec.self)
      out.storeBytes(of: va * c51, toByteOffset: 5 &* row &+ 32, as: Vec.self)
    } else {
      let vb = Vec(repeating: beta)
      @inline(__always) func update(_ acc: Vec, _ offset: Int) {
        let old = UnsafeRawPointer(out).loadUnaligned(fromByteOffset: offset, as: Vec.self)
        out.storeBytes(of: fma(va, acc, vb * old), toByteOffset: offset, as: Vec.self)
      }
      update(c00, 0)
      update(c01, 32)
      update(c10, row)
      update(c11, row &+ 32)
      update(c20, 2 &* row)
      update(c21, 2 &* row &+ 32)
      update(c30, 3 &* row)
      update(c31, 3 &* row &+ 32)
      update(c40, 4 &* row)
      update(c41, 4 &* row &+ 32)
      update(c50, 5 &* row)
      update(c51, 5 &* row &+ 32)
    }
  }
}
