extension NPYArray {
  /// Parses the bytes of a `.npy` file (format 1.0, 2.0 or 3.0).
  public init(bytes: [UInt8]) throws(NPYError) {
    let magic = NPYHeader.magic
    guard bytes.count >= magic.count, Array(bytes[0..<magic.count]) == magic else {
      throw .badMagic
    }
    guard bytes.count >= 8 else {
      throw .truncatedHeader(expectedBytes: 10, actualBytes: bytes.count)
    }
    let major = bytes[6]
    let minor = bytes[7]
    // 1.0 stores the header length as UInt16; 2.0 widened it to UInt32; 3.0 made the header UTF-8.
    let lengthBytes: Int
    switch (major, minor) {
    case (1, 0): lengthBytes = 2
    case (2, 0), (3, 0): lengthBytes = 4
    default: throw .unsupportedVersion(major: major, minor: minor)
    }
    let headerStart = 8 + lengthBytes
    guard bytes.count >= headerStart else {
      throw .truncatedHeader(expectedBytes: headerStart, actualBytes: bytes.count)
    }
    var headerLength = 0
    for i in 0..<lengthBytes { headerLength |= Int(bytes[8 + i]) << (8 * i) }
    let dataStart = headerStart + headerLength
    guard bytes.count >= dataStart else {
      throw .truncatedHeader(expectedBytes: dataStart, actualBytes: bytes.count)
    }
    guard let text = String(validating: bytes[headerStart..<dataStart], as: UTF8.self) else {
      throw .headerParse("the header is not valid UTF-8")
    }
    if major < 3, !text.unicodeScalars.allSatisfy(\.isASCII) {
      throw .headerParse("format \(major).0 headers must be ASCII")
    }
    let header = try NPYHeader(dict: text)
    let count = try Self.elementCount(header.shape)
    let (needed, overflow) = count.multipliedReportingOverflow(by: header.dtype.itemSize)
    if overflow { throw .invalidShape(header.shape) }
    let available = bytes.count - dataStart
    if available < needed { throw .truncatedData(expectedBytes: needed, actualBytes: available) }
    if available > needed { throw .trailingData(expectedBytes: needed, actualBytes: available) }
    try self.init(shape: header.shape, dtype: header.dtype, data: Array(bytes[dataStart...]))
  }
}
