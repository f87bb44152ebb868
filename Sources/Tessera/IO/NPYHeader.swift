/// The three facts a `.npy` header holds: element type, memory order and shape.
///
/// On disk (format 1.0): `\x93NUMPY`, major, minor, a little-endian UInt16 header length (UInt32
/// in 2.0/3.0), then the header itself, an ASCII (3.0: UTF-8) Python dict literal such as
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }` padded with spaces and ended by
/// `\n` so that the data starts on a 64-byte boundary. The data follows, C order, no padding.
struct NPYHeader: Hashable, Sendable {
  var dtype: NPYDType
  var shape: [Int]

  static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // \x93NUMPY

  /// Checks the dict parsed from a header: the keys NumPy writes, a supported dtype, C order
  /// and a shape of non-negative ints.
  init(dict text: String) throws(NPYError) {
    guard case .dict(let entries) = try PyLiteral.parse(text) else {
      throw .headerParse("expected a dict literal, got \(text.debugDescription)")
    }
    func value(_ key: String) throws(NPYError) -> PyLiteral {
      guard let v = entries.first(where: { $0.key == key })?.value else {
        throw .missingKey(key)
      }
      return v
    }
    switch try value("descr") {
    case .string(let descr): dtype = try NPYDType(descr: descr)
    case .list:
      throw .structuredDType
    default:
      throw .headerParse("'descr' must be a dtype string such as '<f4'")
    }
    guard case .bool(let fortran) = try value("fortran_order") else {
      throw .headerParse("'fortran_order' must be True or False")
    }
    if fortran { throw .fortranOrder }
    guard case .tuple(let dims) = try value("shape") else {
      throw .headerParse("'shape' must be a tuple of ints")
    }
    var shape: [Int] = []
    for dim in dims {
      guard case .int(let n) = dim else { throw .headerParse("'shape' must be a tuple of ints") }
      shape.append(n)
    }
    self.shape = shape
    _ = try NPYArray.elementCount(shape)
  }

  init(dtype: NPYDType, shape: [Int]) {
    self.dtype = dtype
    self.shape = shape
  }

  /// The dict literal NumPy itself writes (`np.lib.format.header_data_from_array_1_0`).
  var dictLiteral: String {
    let dims =
      shape.count == 1
      ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
    return "{'descr': '\(dtype.rawValue)', 'fortran_order': False, 'shape': \(dims), }"
  }
}
