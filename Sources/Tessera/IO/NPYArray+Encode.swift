extension NPYArray {
  /// The bytes of a `.npy` file holding this array, as `np.save` writes them: format 1.0 when
  /// the header fits its UInt16 length (always, for shapes of a few axes), 2.0 otherwise; the
  /// header padded with spaces and a final `\n` so the data starts on a 64-byte boundary (the
  /// alignment of NumPy's `format.ARRAY_ALIGN`, so the data can be memory-mapped aligned).
  public var encoded: [UInt8] {
    let dict = Array(NPYHeader(dtype: dtype, shape: shape).dictLiteral.utf8)
    let lengthBytes = dict.count + 1 + 10 <= 65_535 ? 2 : 4
    let preamble = 8 + lengthBytes
    let unpadded = preamble + dict.count + 1  // + '\n'
    let padding = (64 - unpadded % 64) % 64
    let headerLength = dict.count + padding + 1
    var out: [UInt8] = NPYHeader.magic + [lengthBytes == 2 ? 1 : 2, 0]
    out.reserveCapacity(preamble + headerLength + data.count)
    for i in 0..<lengthBytes { out.append(UInt8(truncatingIfNeeded: headerLength >> (8 * i))) }
    out += dict
    out += [UInt8](repeating: 0x20, count: padding)
    out.append(0x0A)
    out += data
    return out
  }
}
