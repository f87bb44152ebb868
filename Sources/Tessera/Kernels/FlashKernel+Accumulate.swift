extension FlashKernel {
  /// accᵀ ← accᵀ·diag(alpha) + V_jᵀ · Pᵀ: `accT[d][r] = alpha[r]·accT[d][r] + Σ_c V_j[c][d]·P[c][r]`.
  ///
  /// The rescale of the online softmax (acc·exp(m_old − m_new)) is fused into the load of the
  /// accumulators. V_j is read in place: row c at `values + c·valueStride`, d contiguous; value
  /// dims are processed 4 at a time and the last block clamps to the last valid dim (its extra
  /// rows of `accT` are padding, never written out).
  @inline(never)
  static func accumulateTile(
    probabilities: UnsafePointer<Float>, queryTile br: Int, keyCount: Int,
    values: UnsafePointer<Float>, valueStride: Int, valueDim: Int, paddedValueDim: Int,
    alpha: UnsafePointer<Float>, accT: UnsafeMutablePointer<Float>
  ) {
    let lastDim = valueDim &- 1
    let row = br &* 4
    var rb = 0
    while rb < br {
      let a = UnsafeRawPointer(alpha + rb)
      let a0 = a.loadUnaligned(as: Vec.self)
      let a1 = a.loadUnaligned(fromByteOffset: 32, as: Vec.self)
      let a2 = a.loadUnaligned(fromByteOffset: 64, as: Vec.self)
      var d = 0
      while d < paddedValueDim {
        let d1 = min(d &+ 1, lastDim)
        let d2 = min(d &+ 2, lastDim)
        let d3 = min(d &+ 3, lastDim)
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
        var v = values
        for _ in 0..<keyCount {
          let p0 = p.loadUnaligned(as: Vec.self)
          let p1 = p.loadUnaligned(fromByteOffset: 32, as: Vec.self)
          let p2 = p.loadUnaligned(fromByteOffset: 64, as: Vec.self)
          let v0 = Vec(repeating: v[d])
          o00 = fma(p0, v0, o00)
          o01 = fma(p1, v0, o01)
          o02 = fma(p2, v0, o02)
          let v1 = Vec(repeating: v[d1])
          o10 = fma(p0, v1, o10)
          o11 = fma(p1, v1, o11)
          o12 = fma(p2, v1, o12)
          let v2 = Vec(repeating: v[d2])
          o20 = fma(p0, v2, o20)
          o21 = fma(p1, v2, o21)
          o22 = fma(p2, v2, o22)
          let v3 = Vec(repeating: v[d3])
          o30 = fma(p0, v3, o30)
          o31 = fma(p1, v3, o31)
          o32 = fma(p2, v3, o32)
          p += row
          v += valueStride
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
        d &+= 4
      }
      rb &+= 24
    }
  }
}
