extension FlashKernel {
  /// The online-softmax step between S and P·V, vertical over Sᵀ (8 query rows per vector):
  ///
  ///     m_new = max(m, max_c S[c])          (S already in log2 units: Q̂ carries scale·log2 e)
  ///     P[c]  = exp2(S[c] − m_new)           (written over S)
  ///     alpha = exp2(m − m_new)              (rescale of l and acc)
  ///     l     = l·alpha + Σ_c P[c]
  ///
  /// A row that has seen no visible key keeps m = −∞; subtracting 0 instead of −∞ keeps P = 0
  /// and alpha = 0 (never NaN). When `masked`, keys outside `keyStart[r]..<keyEnd[r]` are set to
  /// −∞ first: only tiles that straddle a mask boundary pay for it.
  @inline(never)
  static func softmaxTile(
    scores: UnsafeMutablePointer<Float>, queryTile br: Int, keyCount: Int,
    firstKey: Int, masked: Bool,
    keyStart: UnsafePointer<Int32>, keyEnd: UnsafePointer<Int32>,
    rowMax: UnsafeMutablePointer<Float>, rowSum: UnsafeMutablePointer<Float>,
    alpha: UnsafeMutablePointer<Float>
  ) {
    let minusInfinity = Vec(repeating: -.infinity)
    var r = 0
    while r < br {
      let column = UnsafeMutableRawPointer(scores + r)
      let row = br &* 4
      let mOld = UnsafeRawPointer(rowMax + r).loadUnaligned(as: Vec.self)
      var mNew = mOld
      if masked {
        let start = UnsafeRawPointer(keyStart + r).loadUnaligned(as: SIMD8<Int32>.self)
        let end = UnsafeRawPointer(keyEnd + r).loadUnaligned(as: SIMD8<Int32>.self)
        var key = SIMD8<Int32>(repeating: Int32(truncatingIfNeeded: firstKey))
        var s = column
        for _ in 0..<keyCount {
          var x = s.loadUnaligned(as: Vec.self)
          x = x.replacing(with: minusInfinity, where: (key .< start) .| (key .>= end))
          s.storeBytes(of: x, as: Vec.self)
          mNew = mNew.replacing(with: x, where: x .> mNew)
          key &+= 1
          s += row
        }
      } else {
        var s = UnsafeRawPointer(column)
        for _ in 0..<keyCount {
          let x = s.loadUnaligned(as: Vec.self)
          mNew = mNew.replacing(with: x, where: x .> mNew)
          s += row
        }
      }
      let mSafe = mNew.replacing(with: 0, where: mNew .== minusInfinity)
      var sum = Vec()
      var s = column
      for _ in 0..<keyCount {
        let p = exp2(s.loadUnaligned(as: Vec.self) - mSafe)
        s.storeBytes(of: p, as: Vec.self)
        sum += p
        s += row
      }
      let a = exp2(mOld - mSafe)
      let lOld = UnsafeRawPointer(rowSum + r).loadUnaligned(as: Vec.self)
      UnsafeMutableRawPointer(rowSum + r).storeBytes(of: fma(lOld, a, sum), as: Vec.self)
      UnsafeMutableRawPointer(rowMax + r).storeBytes(of: mNew, as: Vec.self)
      UnsafeMutableRawPointer(alpha + r).storeBytes(of: a, as: Vec.self)
      r &+= 8
    }
  }
}
