/// An n-dimensional array as stored in a NumPy `.npy` file: shape, element type and the raw
/// little-endian data in C (row-major) order.
///
/// ```swift
/// let q = try NPYArray(contentsOf: "q.npy")       // (batch, seq, heads, dim) float32
/// let values = try q.float32Values()
/// try NPYArray(shape: [2, 3], float32: values6).write(to: "out.npy")
/// ```
public struct NPYArray: Hashable, Sendable {
  /// Extent of each axis, outermost first; `[]` is a 0-d array holding one element.
  public let shape: [Int]
  public let dtype: NPYDType
  /// `elementCount · dtype.itemSize` bytes, little-endian, C order.
  public let data: [UInt8]

  /// The number of elements, the product of `shape`.
  public var elementCount: Int { data.count / dtype.itemSize }

  /// An array over raw little-endian bytes; `data` must hold exactly shape × itemsize bytes.
  public init(shape: [Int], dtype: NPYDType, data: [UInt8]) throws(NPYError) {
    let count = try Self.elementCount(shape)
    let (bytes, overflow) = count.multipliedReportingOverflow(by: dtype.itemSize)
    if overflow { throw .invalidShape(shape) }
    if data.count != bytes {
      throw .countMismatch(shape: shape, expected: count, actual: data.count / dtype.itemSize)
    }
    self.shape = shape
    self.dtype = dtype
    self.data = data
  }

  /// A float32 array; `values` must hold exactly the product of `shape` elements.
  public init(shape: [Int], float32 values: [Float]) throws(NPYError) {
    let count = try Self.elementCount(shape)
    if values.count != count {
      throw .countMismatch(shape: shape, expected: count, actual: values.count)
    }
    var bytes = [UInt8](repeating: 0, count: count * 4)
    bytes.withUnsafeMutableBytes { raw in
      for (i, x) in values.enumerated() {
        raw.storeBytes(of: x.bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self)
      }
    }
    try self.init(shape: shape, dtype: .float32, data: bytes)
  }

  /// The elements of a float32 array.
  public func float32Values() throws(NPYError) -> [Float] {
    guard dtype == .float32 else { throw .dtypeMismatch(stored: dtype, requested: .float32) }
    return decode { raw, i in
      Float(
        bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
    }
  }

  /// The elements as Float32, widening float16 exactly (every half is a float).
  public func floatValues() -> [Float] {
    switch dtype {
    case .float32:
      return (try? float32Values()) ?? []
    case .float16:
      return decode { raw, i in
        Self.widen(
          half: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
      }
    }
  }

  private func decode(_ element: (UnsafeRawBufferPointer, Int) -> Float) -> [Float] {
    let count = elementCount
    return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
      data.withUnsafeBytes { raw in
        for i in 0..<count { buffer[i] = element(raw, i) }
      }
      initialized = count
    }
  }

  /// IEEE binary16 → binary32 by bit manipulation, so it works where `Float16` is unavailable
  /// (Intel macOS) and needs no F16C.
  static func widen(half h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exponent = Int((h >> 10) & 0x1F)
    let mantissa = UInt32(h & 0x3FF)
    switch exponent {
    case 0:
      // Zero or subnormal: mantissa · 2⁻²⁴, exact in Float32.
      let magnitude = Float(mantissa) * 0x1p-24
      return sign == 0 ? magnitude : -magnitude
    case 0x1F:
      return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))  // ±inf, NaN
    default:
      return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | (mantissa << 13))
    }
  }

  /// The product of `shape`, rejecting negative dimensions and overflow.
  static func elementCount(_ shape: [Int]) throws(NPYError) -> Int {
    var count = 1
    for dim in shape {
      if dim < 0 { throw .invalidShape(shape) }
      let (next, overflow) = count.multipliedReportingOverflow(by: dim)
      if overflow { throw .invalidShape(shape) }
      count = next
    }
    return count
  }

  /// `(2, 3)`, `(5,)`, `()`: the shape as NumPy prints it.
  public static func format(shape: [Int]) -> String {
    shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
  }
}
