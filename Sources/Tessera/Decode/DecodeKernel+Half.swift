extension DecodeKernel {
  /// Whether a tile can be computed straight from a Float16 cache (no widening pass): rows in
  /// blocks of 4, head dims already multiples of 8, and the tile one contiguous run of rows.
  /// The arithmetic is the Float32 path's, op for op (Float16 → Float32 is exact), so both give
  /// the same bits: a paged tile that crosses a block takes the widening path and matches.
  static func halfTileEligible(_ ops: DecodeOperands, rows: Int, first: Int, count: Int) -> Bool {
    let map = ops.map
    return map.scalarType == .float16 && rows % 4 == 0 && ops.headDim == ops.depth
      && ops.valueDim == ops.valueDepth
      && first / map.blockRows == (first + count - 1) / map.blockRows
  }

  /// `scores` over Float16 key rows (`strideBytes` apart), converted in registers.
  @inline(never)
  static func scoresHalf(
    queries: UnsafePointer<Float>, rows: Int, depth: Int, keys: UnsafeRawPointer,
    strideBytes: Int, keyCount: Int, scores: UnsafeMutablePointer<Float>, scoreStride: Int,
    pairs: UnsafeMutablePointer<Float>, prefetch: RowPrefetch? = nil
  ) {
    var r0 = 0
    while r0 < rows {
      scoresFourRows(
        Float16Elements.self, queries: queries + r0 &* depth, depthBytes: depth &* 4, keys: keys,
        strideBytes: strideBytes, keyCount: keyCount, scores: scores + r0 &* scoreStride,
        scoreStride: scoreStride, pairs: pairs, prefetch: r0 == 0 ? prefetch : nil)
      r0 &+= 4
    }
  }

  /// `accumulate` over Float16 value rows (`strideBytes` apart), converted in registers.
  @inline(never)
  static func accumulateHalf(
    probabilities: UnsafePointer<Float>, rows: Int, scoreStride: Int, keyCount: Int,
    values: UnsafeRawPointer, strideBytes: Int, paddedValueDim: Int,
    alpha: UnsafePointer<Float>, acc: UnsafeMutablePointer<Float>, prefetch: RowPrefetch? = nil
  ) {
    var r0 = 0
    while r0 < rows {
      accumulateFourRows(
        Float16Elements.self, probabilities: probabilities + r0 &* scoreStride,
        scoreStride: scoreStride, keyCount: keyCount, values: values, strideBytes: strideBytes,
        paddedValueDim: paddedValueDim, alpha: alpha + r0, acc: acc + r0 &* paddedValueDim,
        prefetch: r0 == 0 ? prefetch : nil)
      r0 &+= 4
    }
  }
}

/// How the 4-row decode micro-kernels read 8 consecutive elements of a K or V row as Floats.
/// A compile-time choice (the generic kernels are inlined into non-generic entry points), so
/// the Float32 and Float16 paths share one body and one order of operations: the same bits.
protocol RowElements {
  /// Elements `element ..< element + 8` of the row at `row`, widened to Float.
  static func load(_ row: UnsafeRawPointer, _ element: Int) -> Vec
}

/// Float32 rows (a widened tile, or a Float32 cache read in place).
enum Float32Elements: RowElements {
  @inline(__always)
  static func load(_ row: UnsafeRawPointer, _ element: Int) -> Vec {
    row.loadUnaligned(fromByteOffset: element &* 4, as: Vec.self)
  }
}

/// Float16 cache rows, converted in registers (`vcvtph2ps` with F16C).
enum Float16Elements: RowElements {
  @inline(__always)
  static func load(_ row: UnsafeRawPointer, _ element: Int) -> Vec {
    Vec(row.loadUnaligned(fromByteOffset: element &* 2, as: SIMD8<Float16>.self))
  }
}
