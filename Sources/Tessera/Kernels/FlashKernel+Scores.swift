extension FlashKernel {
  /// Sᵀ = K_j · Q̂_iᵀ for one tile: `scores[c][r] = Σ_d K_j[c][d] · qPacked[r][d]`.
  ///
  /// K_j is read in place: row c at `keys + c·keyStride`, d contiguous. Rows are processed in
  /// blocks of 4; the last block clamps its row pointers to the last valid key, so it never reads
  /// past the tensor; the duplicate columns it writes (rows `keyCount..<roundUp(keyCount, 4)` of
  /// `scores`) are never read by the softmax.
  ///
  /// Loop order: a 24-query micro-panel of Q̂_i (D·24·4 = 12 KiB at D = 128) stays in L1 while
  /// it meets every key of the tile.
  @inline(never)
  static func scoresTile(
    qPacked: UnsafePointer<Float>, queryTile br: Int, depth: Int,
    keys: UnsafePointer<Float>, keyStride: Int, keyCount: Int,
    scores: UnsafeMutablePointer<Float>
  ) {
    let last = keyCount &- 1
    var rb = 0
    while rb < br {
      let panel = UnsafeRawPointer(qPacked + rb &* depth)
      var c = 0
      while c < keyCount {
        let k0 = keys + c &* keyStride
        let k1 = keys + min(c &+ 1, last) &* keyStride
        let k2 = keys + min(c &+ 2, last) &* keyStride
        let k3 = keys + min(c &+ 3, last) &* keyStride
        var s00 = Vec(), s01 = Vec(), s02 = Vec()
        var s10 = Vec(), s11 = Vec(), s12 = Vec()
        var s20 = Vec(), s21 = Vec(), s22 = Vec()
        var s30 = Vec(), s31 = Vec(), s32 = Vec()
        var q = panel
        for d in 0..<depth {
          let q0 = q.loadUnaligned(as: Vec.self)
          let q1 = q.loadUnaligned(fromByteOffset: 32, as: Vec.self)
          let q2 = q.loadUnaligned(fromByteOffset: 64, as: Vec.self)
          let b0 = Vec(repeating: k0[d])
          s00 = fma(q0, b0, s00)
          s01 = fma(q1, b0, s01)
          s02 = fma(q2, b0, s02)
          let b1 = Vec(repeating: k1[d])
          s10 = fma(q0, b1, s10)
          s11 = fma(q1, b1, s11)
          s12 = fma(q2, b1, s12)
          let b2 = Vec(repeating: k2[d])
          s20 = fma(q0, b2, s20)
          s21 = fma(q1, b2, s21)
          s22 = fma(q2, b2, s22)
          let b3 = Vec(repeating: k3[d])
          s30 = fma(q0, b3, s30)
          s31 = fma(q1, b3, s31)
          s32 = fma(q2, b3, s32)
          q += 96
        }
        let out = UnsafeMutableRawPointer(scores + (c &* br &+ rb))
        let row = br &* 4
        out.storeBytes(of: s00, as: Vec.self)
        out.storeBytes(of: s01, toByteOffset: 32, as: Vec.self)
        out.storeBytes(of: s02, toByteOffset: 64, as: Vec.self)
        out.storeBytes(of: s10, toByteOffset: row, as: Vec.self)
        out.storeBytes(of: s11, toByteOffset: row &+ 32, as: Vec.self)
        out.storeBytes(of: s12, toByteOffset: row &+ 64, as: Vec.self)
        out.storeBytes(of: s20, toByteOffset: 2 &* row, as: Vec.self)
        out.storeBytes(of: s21, toByteOffset: 2 &* row &+ 32, as: Vec.self)
        out.storeBytes(of: s22, toByteOffset: 2 &* row &+ 64, as: Vec.self)
        out.storeBytes(of: s30, toByteOffset: 3 &* row, as: Vec.self)
        out.storeBytes(of: s31, toByteOffset: 3 &* row &+ 32, as: Vec.self)
        out.storeBytes(of: s32, toByteOffset: 3 &* row &+ 64, as: Vec.self)
        c &+= 4
      }
      rb &+= 24
    }
  }
}
