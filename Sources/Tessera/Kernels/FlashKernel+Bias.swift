extension FlashKernel {
  /// Sᵀ[c][r] += bias[r][c]·log2 e for the tile's valid rows: an additive bias (or additive mask,
  /// −∞) in natural units, converted to the kernel's log2 units. `bias` points at (row r0, key
  /// c0); rows are `queryStride` apart (0: one row broadcast to all queries), keys contiguous.
  ///
  /// Scalar, because Sᵀ is key-major and the bias query-major: one add per score, about 6 % of
  /// the tile's time at D = 128. Padding rows (r ≥ rows) are left alone; they are never written.
  @inline(never)
  static func addBiasTile(
    scores: UnsafeMutablePointer<Float>, queryTile br: Int, rows: Int, keyCount: Int,
    bias: UnsafePointer<Float>, queryStride: Int
  ) {
    for r in 0..<rows {
      let row = bias + r &* queryStride
      var s = scores + r
      for c in 0..<keyCount {
        s.pointee += row[c] * log2e
        s += br
      }
    }
  }
}
