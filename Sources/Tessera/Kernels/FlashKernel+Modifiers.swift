extension FlashKernel {
  /// Softcap and ALiBi on one tile of Sᵀ, in the kernel's log2 units (S₂ = S·log2 e):
  ///
  ///     softcap:  S₂ ← C·tanh(S₂ / C)             with C = cap·log2 e
  ///     ALiBi:    S₂ ← S₂ − a·|p_r − j|           with a = slope·log2 e
  ///
  /// `softcap2` or `slope2` of 0 turns that part off. `diagonal[r]` is p_r, the key position of
  /// query row r, as Float (exact below 2²⁴ positions).
  ///
  /// tanh(x) = sign(x)·(1 − e^(−2|x|)) / (1 + e^(−2|x|)) uses the kernel's exp2 (argument ≤ 0);
  /// below |x| = 1/8 a series replaces it, so a cap far above the logits stays exact.
  @inline(never)
  static func modifyScoresTile(
    scores: UnsafeMutablePointer<Float>, queryTile br: Int, keyCount: Int, firstKey: Int,
    softcap2: Float, slope2: Float, diagonal: UnsafePointer<Float>
  ) {
    let row = br &* 4
    let capVec = Vec(repeating: softcap2)
    let inverseCap = Vec(repeating: softcap2 > 0 ? 1 / softcap2 : 0)
    let minusTwoLog2e = Vec(repeating: -2 * log2e)
    let slope = Vec(repeating: slope2)
    let one = Vec(repeating: 1)
    var r = 0
    while r < br {
      let p = UnsafeRawPointer(diagonal + r).loadUnaligned(as: Vec.self)
      var s = UnsafeMutableRawPointer(scores + r)
      var key = Float(firstKey)
      for _ in 0..<keyCount {
        var x = s.loadUnaligned(as: Vec.self)
        if softcap2 > 0 {
          let y = x * inverseCap
          let negative = y .< 0
          let a = y.replacing(with: -y, where: negative)
          let e = exp2(a * minusTwoLog2e)
          var t = (one - e) / (one + e)
          // Small |y|: 1 − e cancels (relative error ~1e-7/|y|, which the cap multiplies back
          // up); the odd series to y⁷ is exact to 2e-10 below 1/8.
          let y2 = a * a
          var series = fma(y2, Vec(repeating: -17.0 / 315), Vec(repeating: 2.0 / 15))
          series = fma(series, y2, Vec(repeating: -1.0 / 3))
          series = fma(series, y2, one) * a
          t.replace(with: series, where: a .< Vec(repeating: 0.125))
          x = capVec * t.replacing(with: -t, where: negative)
        }
        if slope2 != 0 {
          var distance = p - Vec(repeating: key)
          distance.replace(with: -distance, where: distance .< 0)
          x = fma(-slope, distance, x)
        }
        s.storeBytes(of: x, as: Vec.self)
        key += 1
        s += row
      }
      r &+= 8
    }
  }
}
