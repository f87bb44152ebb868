/// The element types Tessera reads from and writes to `.npy` files, named by their NumPy
/// `descr` strings. Only little-endian floats: the kernel computes in Float32 and converts
/// narrower storage on load.
public enum NPYDType: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
  /// `np.float32`.
  case float32 = "<f4"
  /// `np.float16` (IEEE half).
  case float16 = "<f2"

  /// Bytes per element.
  public var itemSize: Int {
    switch self {
    case .float32: 4
    case .float16: 2
    }
  }

  /// The matching storage type of an attention tensor.
  public var scalarType: ScalarType {
    switch self {
    case .float32: .float32
    case .float16: .float16
    }
  }

  public var description: String {
    switch self {
    case .float32: "float32 ('<f4')"
    case .float16: "float16 ('<f2')"
    }
  }

  /// Parses a `descr` string. `=` (native order) is read as little-endian, which is what NumPy
  /// means by it on every platform Swift on Linux runs on; `>` is rejected rather than swapped,
  /// since no NumPy on these platforms writes it unasked.
  public init(descr: String) throws(NPYError) {
    var chars = Array(descr)
    guard chars.count >= 2 else { throw .unsupportedDType(descr: descr) }
    switch chars[0] {
    case ">": throw .bigEndian(descr: descr)
    case "<", "=": chars[0] = "<"
    default: throw .unsupportedDType(descr: descr)  // '|' (byte-sized, object 'O', ...) or none
    }
    guard let type = NPYDType(rawValue: String(chars)) else {
      throw .unsupportedDType(descr: descr)
    }
    self = type
  }
}
