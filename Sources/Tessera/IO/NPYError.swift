/// Everything that can be wrong with a `.npy` file. Each case says what was found and what was
/// expected, so a user can fix the file (or the `np.save` call) without reading this code.
public enum NPYError: Error, Hashable, Sendable, CustomStringConvertible {
  /// The file does not start with `\x93NUMPY`.
  case badMagic
  /// A format version this reader does not know (1.0, 2.0 and 3.0 are read).
  case unsupportedVersion(major: UInt8, minor: UInt8)
  /// The file ends inside the preamble or the header.
  case truncatedHeader(expectedBytes: Int, actualBytes: Int)
  /// The header is not the Python dict literal NumPy writes.
  case headerParse(String)
  /// A required header key is absent.
  case missingKey(String)
  /// The dtype is big-endian; NumPy writes little-endian on every platform Tessera runs on.
  case bigEndian(descr: String)
  /// The dtype is not one this reader supports (`<f4`, `<f2`).
  case unsupportedDType(descr: String)
  /// The dtype is a list of named fields (a NumPy record array).
  case structuredDType
  /// The array is stored column-major.
  case fortranOrder
  /// A dimension is negative or the element count overflows `Int`.
  case invalidShape([Int])
  /// The file holds fewer data bytes than shape × itemsize.
  case truncatedData(expectedBytes: Int, actualBytes: Int)
  /// The file holds more data bytes than shape × itemsize.
  case trailingData(expectedBytes: Int, actualBytes: Int)
  /// The values were asked for as a type the array does not store.
  case dtypeMismatch(stored: NPYDType, requested: NPYDType)
  /// The element count does not match the shape given to an initializer.
  case countMismatch(shape: [Int], expected: Int, actual: Int)
  /// Reading or writing the file failed.
  case io(path: String, reason: String)

  public var description: String {
    switch self {
    case .badMagic:
      return "not a .npy file: expected the magic bytes \\x93NUMPY at the start"
    case .unsupportedVersion(let major, let minor):
      return "unsupported .npy format version \(major).\(minor); expected 1.0, 2.0 or 3.0"
    case .truncatedHeader(let expected, let actual):
      return "truncated .npy header: expected \(expected) bytes, the file has \(actual)"
    case .headerParse(let detail):
      return "malformed .npy header: \(detail)"
    case .missingKey(let key):
      return
        "malformed .npy header: missing key '\(key)'; expected 'descr', 'fortran_order', 'shape'"
    case .bigEndian(let descr):
      return "big-endian dtype '\(descr)' is not supported; expected little-endian '<f4' or '<f2'"
        + " (use arr.astype('<f4'))"
    case .unsupportedDType(let descr):
      return "unsupported dtype '\(descr)'; expected '<f4' (float32) or '<f2' (float16)"
    case .structuredDType:
      return "structured dtype (a list of fields) is not supported; expected '<f4' or '<f2'"
    case .fortranOrder:
      return "fortran_order is True; expected a C-ordered array (use np.ascontiguousarray)"
    case .invalidShape(let shape):
      return "invalid shape \(NPYArray.format(shape: shape)): dimensions must be non-negative"
        + " and the element count must fit in Int"
    case .truncatedData(let expected, let actual):
      return "truncated .npy data: the shape needs \(expected) bytes, the file has \(actual)"
    case .trailingData(let expected, let actual):
      return "unexpected bytes after the .npy data: the shape needs \(expected) bytes,"
        + " the file has \(actual)"
    case .dtypeMismatch(let stored, let requested):
      return "the array stores \(stored), \(requested) was requested"
    case .countMismatch(let shape, let expected, let actual):
      return "shape \(NPYArray.format(shape: shape)) holds \(expected) elements, got \(actual)"
    case .io(let path, let reason):
      return "\(path): \(reason)"
    }
  }
}
