/// Conversion between the storage types of Q, K, V, O and the Float32 the kernels compute in.
/// Each loop is a plain element loop that LLVM vectorizes: with F16C compiled in, Float16 uses
/// `vcvtph2ps`/`vcvtps2ph` (8 lanes per instruction); BFloat16 is a 16-bit shift either way.
enum StorageConversion {
  /// dst[i] = Float(src[i]) for `count` elements of `type` at `source`.
  @inline(never)
  static func widen(
    _ source: UnsafeRawPointer, type: ScalarType, count: Int, into dst: UnsafeMutablePointer<Float>
  ) {
    switch type {
    case .float32:
      dst.update(from: source.assumingMemoryBound(to: Float.self), count: count)
    case .float16:
      let src = source.assumingMemoryBound(to: Float16.self)
      for i in 0..<count { dst[i] = Float(src[i]) }
    case .bfloat16:
      let src = source.assumingMemoryBound(to: UInt16.self)
      for i in 0..<count { dst[i] = Float(bitPattern: UInt32(src[i]) << 16) }
    }
  }

  /// Copies `rows` rows of `width` elements, `stride` elements apart, into a contiguous Float
  /// tile (row-major, `width` floats per row).
  @inline(never)
  static func widenRows(
    _ source: UnsafeRawPointer, type: ScalarType, stride: Int, rows: Int, width: Int,
    into tile: UnsafeMutablePointer<Float>
  ) {
    let rowBytes = stride * type.byteCount
    for r in 0..<rows {
      widen(source + r * rowBytes, type: type, count: width, into: tile + r * width)
    }
  }

  /// Stores one Float as `type` at element `index` of `base`.
  @inline(__always)
  static func store(
    _ value: Float, as type: ScalarType, at base: UnsafeMutableRawPointer, index: Int
  ) {
    switch type {
    case .float32:
      base.assumingMemoryBound(to: Float.self)[index] = value
    case .float16:
      base.assumingMemoryBound(to: Float16.self)[index] = Float16(value)
    case .bfloat16:
      base.assumingMemoryBound(to: UInt16.self)[index] = BFloat16(value).bitPattern
    }
  }

  /// Stores `count` Floats from `source` as `type` at elements `index ..< index + count` of
  /// `base`: `store`'s conversion (the same bits) in a loop with the type chosen once (one
  /// scalar `vcvtps2ph` per element with F16C; LLVM does not vectorize it). Decode's merge used
  /// `store` per element: profiled at B=4, 32/8 heads, Skv=128, 2 threads, the merge with its
  /// stores and `expf` took 8.7 % of the samples, 3.9 % with this and its weights computed once.
  @inline(never)
  static func narrow(
    _ source: UnsafePointer<Float>, count: Int, as type: ScalarType,
    into base: UnsafeMutableRawPointer, index: Int
  ) {
    switch type {
    case .float32:
      (base.assumingMemoryBound(to: Float.self) + index).update(from: source, count: count)
    case .float16:
      let dst = base.assumingMemoryBound(to: Float16.self) + index
      for i in 0..<count { dst[i] = Float16(source[i]) }
    case .bfloat16:
      let dst = base.assumingMemoryBound(to: UInt16.self) + index
      for i in 0..<count { dst[i] = BFloat16(source[i]).bitPattern }
    }
  }

  /// Loads element `index` of `base` stored as `type`.
  @inline(__always)
  static func load(_ base: UnsafeRawPointer, as type: ScalarType, index: Int) -> Float {
    switch type {
    case .float32: base.assumingMemoryBound(to: Float.self)[index]
    case .float16: Float(base.assumingMemoryBound(to: Float16.self)[index])
    case .bfloat16:
      Float(bitPattern: UInt32(base.assumingMemoryBound(to: UInt16.self)[index]) << 16)
    }
  }
}
