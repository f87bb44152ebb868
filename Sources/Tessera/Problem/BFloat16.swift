/// Brain floating point: the top 16 bits of a Float32 (8-bit exponent, 7-bit mantissa). Swift
/// has no such type; this one only stores and converts — all arithmetic happens in Float32.
public struct BFloat16: Hashable, Sendable, CustomStringConvertible {
  public var bitPattern: UInt16

  public init(bitPattern: UInt16) { self.bitPattern = bitPattern }

  /// Rounds to nearest, ties to even; NaN stays NaN (quiet).
  @inlinable
  public init(_ value: Float) {
    let bits = value.bitPattern
    if value.isNaN {
      bitPattern = UInt16(truncatingIfNeeded: bits >> 16) | 0x0040
    } else {
      let rounding = 0x7FFF &+ ((bits >> 16) & 1)
      bitPattern = UInt16(truncatingIfNeeded: (bits &+ rounding) >> 16)
    }
  }

  @inlinable
  public var float: Float { Float(bitPattern: UInt32(bitPattern) << 16) }

  public var description: String { float.description }
}

extension Float {
  @inlinable
  public init(_ value: BFloat16) { self = value.float }
}
