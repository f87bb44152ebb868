import CTesseraShims

extension DecodeKernel {
  /// Whether a tile can be computed straight from a 16-bit cache (Float16 or BFloat16; no
  /// widening pass): head dims already multiples of 8 and the tile one contiguous run of rows.
  /// The arithmetic is the Float32 path's, op for op (both widenings are exact), so both give
  /// the same bits: a paged tile that crosses a block takes the widening path and matches.
  static func narrowTileEligible(_ ops: DecodeOperands, rows: Int, first: Int, count: Int) -> Bool {
    let map = ops.map
    return map.scalarType != .float32 && ops.headDim == ops.depth
      && ops.valueDim == ops.valueDepth
      && first / map.blockRows == (first + count - 1) / map.blockRows
  }

  /// `scores` over 16-bit key rows of `type` (`strideBytes` apart), converted in registers.
  static func scoresNarrow(
    type: ScalarType, queries: UnsafePointer<Float>, rows: Int, depth: Int,
    keys: UnsafeRawPointer, strideBytes: Int, keyCount: Int, scores: UnsafeMutablePointer<Float>,
    scoreStride: Int, pairs: UnsafeMutablePointer<Float>, prefetch: RowPrefetch? = nil,
    split: Int = .max, second: UnsafeRawPointer? = nil, prefetch2: RowPrefetch? = nil
  ) {
    if type == .bfloat16 {
      Self.scores(
        BFloat16Elements.self, queries: queries, rows: rows, depth: depth, keys: keys,
        strideBytes: strideBytes, keyCount: keyCount, scores: scores, scoreStride: scoreStride,
        pairs: pairs, prefetch: prefetch, split: split, second: second, prefetch2: prefetch2)
    } else {
      Self.scores(
        Float16Elements.self, queries: queries, rows: rows, depth: depth, keys: keys,
        strideBytes: strideBytes, keyCount: keyCount, scores: scores, scoreStride: scoreStride,
        pairs: pairs, prefetch: prefetch, split: split, second: second, prefetch2: prefetch2)
    }
  }

  /// `accumulate` over 16-bit value rows of `type` (`strideBytes` apart), converted in registers.
  static func accumulateNarrow(
    type: ScalarType, probabilities: UnsafePointer<Float>, rows: Int, scoreStride: Int,
    keyCount: Int, values: UnsafeRawPointer, strideBytes: Int, paddedValueDim: Int,
    alpha: UnsafePointer<Float>, acc: UnsafeMutablePointer<Float>, prefetch: RowPrefetch? = nil,
    split: Int = .max, second: UnsafeRawPointer? = nil, prefetch2: RowPrefetch? = nil
  ) {
    if type == .bfloat16 {
      Self.accumulate(
        BFloat16Elements.self, probabilities: probabilities, rows: rows, scoreStride: scoreStride,
        keyCount: keyCount, values: values, strideBytes: strideBytes,
        paddedValueDim: paddedValueDim, alpha: alpha, acc: acc, prefetch: prefetch, split: split,
        second: second, prefetch2: prefetch2)
    } else {
      Self.accumulate(
        Float16Elements.self, probabilities: probabilities, rows: rows, scoreStride: scoreStride,
        keyCount: keyCount, values: values, strideBytes: strideBytes,
        paddedValueDim: paddedValueDim, alpha: alpha, acc: acc, prefetch: prefetch, split: split,
        second: second, prefetch2: prefetch2)
    }
  }
}

/// How the 4-row decode micro-kernels read 8 consecutive elements of a K or V row as Floats.
/// A compile-time choice (the generic kernels are specialized per type), so the Float32,
/// Float16 and BFloat16 paths share one body and one order of operations: the same bits.
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

/// Float16 cache rows, converted in registers (`vcvtph2ps` with F16C). Through the C helper,
/// not `SIMD8<Float>(SIMD8<Float16>)`: that generic initializer is inlined at LLVM's discretion,
/// and in the 24-wide `accumulateFourRows` it was not (a call per conversion, every
/// accumulator spilled around it); the static inline C function always is. Same values.
enum Float16Elements: RowElements {
  @inline(__always)
  static func load(_ row: UnsafeRawPointer, _ element: Int) -> Vec {
    tessera_widen_half8(row + element &* 2)
  }
}

/// BFloat16 cache rows, widened in registers (the upper 16 bits of a Float32: zero-extend and
/// shift), through the C helper for the same reason as Float16 (written in Swift, the 24-wide
/// loop spilled 6 accumulators per 2 keys).
enum BFloat16Elements: RowElements {
  @inline(__always)
  static func load(_ row: UnsafeRawPointer, _ element: Int) -> Vec {
    tessera_widen_bfloat8(row + element &* 2)
  }
}
