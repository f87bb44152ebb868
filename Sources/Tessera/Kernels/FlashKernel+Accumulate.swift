extension FlashKernel {
  /// V_j re-blocked for the P·V micro-kernel: `blocked[db][c][0..<4] = V_j[c][4·db ..< 4·db + 4]`
  /// (dims past Dv are zero), widened to Float. The micro-kernel then streams one contiguous
  /// 16-byte group per key instead of touching one line per key row: with BSHD rows 4 KiB apart
  /// (8 heads of 128), every row of a V tile falls in the same L1 set and each group missed L1.
  /// Cost: one 16-byte move per 4 values per query tile (≈ 2 % of the tile's FMAs at Br = 96).
  @inline(never)
  static func packValuesBlocked(
    _ source: UnsafeRawPointer, type: ScalarType, stride: Int, count: Int, valueDim: Int,
    paddedValueDim: Int, into blocked: UnsafeMutablePointer<Float>
  ) {
    let groups = paddedValueDim / 4
    let full = valueDim / 4
    let rowBytes = stride * type.byteCount
    for c in 0..<count {
      let row = source + c * rowBytes
      var dst = blocked + c * 4
      if type == .float32 {
        for g in 0..<full {
          let x = row.loadUnaligned(fromByteOffset: g * 16, as: SIMD4<Float>.self)
          UnsafeMutableRawPointer(dst).storeBytes(of: x, as: SIMD4<Float>.self)
          dst += count * 4
        }
      } else {
        for g in 0..<full {
          for i in 0..<4 {
            dst[i] = StorageConversion.load(row, as: type, index: g * 4 + i)
          }
          dst += count * 4
        }
      }
      for g in full..<groups {
        for i in 0..<4 {
          let d = g * 4 + i
          dst[i] = d < valueDim ? StorageConversion.load(row, as: type, index: d) : 0
        }
        dst += count * 4
      }
    }
  }

  /// accᵀ ← accᵀ·diag(alpha) + V_jᵀ · Pᵀ:
  /// `accT[d][r] = alpha[r]·accT[d][r] + Σ_c V_j[c][d]·P[c][r]`, with V_j re-blocked by
  /// `packValuesBlocked` (defaults: the 4 values of key c in group g at `g·Bc·4 + c·4`) or read
  /// in place (`keyStep` = the row stride, `groupStep` = 4). The rescale of the online softmax (acc·exp2(m_old − m_new)) is fused
  /// into the load of the accumulators. Register block: 4 value dims × 24 queries (12 SIMD8
  /// accumulators, 3 vector loads of P and 4 broadcasts of V per key).
  @inline(never)
  static func accumulateTile(
    probabilities: UnsafePointer<Float>, queryTile br: Int, keyCount: Int,
    blockedValues: UnsafePointer<Float>, paddedValueDim: Int,
    alpha: UnsafePointer<Float>, accT: UnsafeMutablePointer<Float>,
    keyStep: Int = 4, groupStep: Int? = nil
  ) {
    let groupStep = groupStep ?? keyCount &* 4
    // Loop order: value-dim group outer, query panel inner, so one 4-dim group of V_j
    // (Bc·16 bytes) stays in L1 while it meets every query panel. Cachegrind (S = 512, H = 8,
    // D = 128, BSHD): L1 read misses of P·V 3.67 M with V read in place, 1.28 M re-blocked with
    // the panel loop outer, 0.61 M with this order.
    let row = br &* 4
    var d = 0
    var group = blockedValues
    while d < paddedValueDim {
      var rb = 0
      while rb < br {
        let a = UnsafeRawPointer(alpha + rb)
        let a0 = a.loadUnaligned(as: Vec.self)
        let a1 = a.loadUnaligned(fromByteOffset: 32, as: Vec.self)
        let a2 = a.loadUnaligned(fromByteOffset: 64, as: Vec.self)
        let acc = UnsafeMutableRawPointer(accT + (d &* br &+ rb))
        var o00 = acc.loadUnaligned(as: Vec.self) * a0
        var o01 = acc.loadUnaligned(fromByteOffset: 32, as: Vec.self) * a1
        var o02 = acc.loadUnaligned(fromByteOffset: 64, as: Vec.self) * a2
        var o10 = acc.loadUnaligned(fromByteOffset: row, as: Vec.self) * a0
        var o11 = acc.loadUnaligned(fromByteOffset: row &+ 32, as: Vec.self) * a1
        var o12 = acc.loadUnaligned(fromByteOffset: row &+ 64, as: Vec.self) * a2
        var o20 = acc.loadUnaligned(fromByteOffset: 2 &* row, as: Vec.self) * a0
        var o21 = acc.loadUnaligned(fromByteOffset: 2 &* row &+ 32, as: Vec.self) * a1
        var o22 = acc.loadUnaligned(fromByteOffset: 2 &* row &+ 64, as: Vec.self) * a2
        var o30 = acc.loadUnaligned(fromByteOffset: 3 &* row, as: Vec.self) * a0
        var o31 = acc.loadUnaligned(fromByteOffset: 3 &* row &+ 32, as: Vec.self) * a1
        var o32 = acc.loadUnaligned(fromByteOffset: 3 &* row &+ 64, as: Vec.self) * a2
        var p = UnsafeRawPointer(probabilities + rb)
        var v = group
        for _ in 0..<keyCount {
          let p0 = p.loadUnaligned(as: Vec.self)
          let p1 = p.loadUnaligned(fromByteOffset: 32, as: Vec.self)
          let p2 = p.loadUnaligned(fromByteOffset: 64, as: Vec.self)
          let v0 = Vec(repeating: v[0])
          o00 = fma(p0, v0, o00)
          o01 = fma(p1, v0, o01)
          o02 = fma(p2, v0, o02)
          let v1 = Vec(repeating: v[1])
          o10 = fma(p0, v1, o10)
          o11 = fma(p1, v1, o11)
          o12 = fma(p2, v1, o12)
          let v2 = Vec(repeating: v[2])
          o20 = fma(p0, v2, o20)
          o21 = fma(p1, v2, o21)
          o22 = fma(p2, v2, o22)
          let v3 = Vec(repeating: v[3])
          o30 = fma(p0, v3, o30)
          o31 = fma(p1, v3, o31)
          o32 = fma(p2, v3, o32)
          p += row
          v += keyStep
        }
        acc.storeBytes(of: o00, as: Vec.self)
        acc.storeBytes(of: o01, toByteOffset: 32, as: Vec.self)
        acc.storeBytes(of: o02, toByteOffset: 64, as: Vec.self)
        acc.storeBytes(of: o10, toByteOffset: row, as: Vec.self)
        acc.storeBytes(of: o11, toByteOffset: row &+ 32, as: Vec.self)
        acc.storeBytes(of: o12, toByteOffset: row &+ 64, as: Vec.self)
        acc.storeBytes(of: o20, toByteOffset: 2 &* row, as: Vec.self)
        acc.storeBytes(of: o21, toByteOffset: 2 &* row &+ 32, as: Vec.self)
        acc.storeBytes(of: o22, toByteOffset: 2 &* row &+ 64, as: Vec.self)
        acc.storeBytes(of: o30, toByteOffset: 3 &* row, as: Vec.self)
        acc.storeBytes(of: o31, toByteOffset: 3 &* row &+ 32, as: Vec.self)
        acc.storeBytes(of: o32, toByteOffset: 3 &* row &+ 64, as: Vec.self)
        rb &+= 24
      }
      d &+= 4
      group += groupStep
    }
  }
}
