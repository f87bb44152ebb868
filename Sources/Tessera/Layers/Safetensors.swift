import Foundation

/// A `.safetensors` file: named tensors in one little-endian byte buffer.
///
/// Layout (https://github.com/huggingface/safetensors):
///
///     [8 bytes: N, UInt64 little-endian] [N bytes: UTF-8 JSON header] [data buffer]
///
/// The header maps each tensor name to `{"dtype": "F32", "shape": [2, 3],
/// "data_offsets": [begin, end]}` (byte offsets into the data buffer, end exclusive) and may
/// hold a `"__metadata__"` object of strings. Tensors are C-ordered. This reader accepts F32,
/// F16 and BF16 (all converted to Float on request) and checks every offset against the
/// buffer and the shape, so a malformed file is a typed error, never a trap.
public struct SafetensorsFile: Sendable {
  /// Tensors by name.
  public var tensors: [String: SafetensorsTensor]
  /// The `__metadata__` strings, if any.
  public var metadata: [String: String]

  public init(tensors: [String: SafetensorsTensor], metadata: [String: String] = [:]) {
    self.tensors = tensors
    self.metadata = metadata
  }

  /// Reads and parses a file.
  public init(contentsOf path: String) throws(SafetensorsError) {
    let bytes: [UInt8]
    do {
      bytes = try NPYArray.readFile(path)
    } catch {
      if case .io(let p, let reason) = error { throw .io(path: p, reason: reason) }
      throw .io(path: path, reason: "\(error)")
    }
    try self.init(bytes: bytes)
  }

  /// Largest header accepted (the reference implementation's limit is 100 MB).
  public static let maximumHeaderLength = 100_000_000

  /// Parses the bytes of a file.
  public init(bytes: [UInt8]) throws(SafetensorsError) {
    guard bytes.count >= 8 else { throw .fileTooShort(bytes: bytes.count) }
    var length: UInt64 = 0
    for i in 0..<8 { length |= UInt64(bytes[i]) << (8 * UInt64(i)) }
    let available = bytes.count - 8
    guard length <= UInt64(Self.maximumHeaderLength), Int(length) <= available else {
      throw .headerLengthOutOfRange(length: length, available: available)
    }
    let headerEnd = 8 + Int(length)
    let json: Any
    do {
      json = try JSONSerialization.jsonObject(with: Data(bytes[8..<headerEnd]))
    } catch {
      throw .headerNotJSON("\(error.localizedDescription)")
    }
    guard let header = json as? [String: Any] else {
      throw .headerNotJSON("the header is not a JSON object")
    }
    let dataCount = bytes.count - headerEnd
    var tensors: [String: SafetensorsTensor] = [:]
    var metadata: [String: String] = [:]
    for (name, value) in header {
      if name == "__metadata__" {
        guard let dict = value as? [String: Any] else {
          throw .invalidEntry(name: name, detail: "expected an object of strings")
        }
        for (k, v) in dict {
          guard let s = v as? String else {
            throw .invalidEntry(name: name, detail: "value of '\(k)' is not a string")
          }
          metadata[k] = s
        }
        continue
      }
      guard let entry = value as? [String: Any] else {
        throw .invalidEntry(
          name: name, detail: "expected an object with dtype, shape, data_offsets")
      }
      guard let dtypeName = entry["dtype"] as? String else {
        throw .invalidEntry(name: name, detail: "missing or non-string 'dtype'")
      }
      guard let dtype = SafetensorsDType(rawValue: dtypeName) else {
        throw .unsupportedDType(name: name, dtype: dtypeName)
      }
      guard let shape = Self.integers(entry["shape"]), shape.allSatisfy({ $0 >= 0 }) else {
        throw .invalidEntry(name: name, detail: "'shape' must be a list of non-negative integers")
      }
      guard let offsets = Self.integers(entry["data_offsets"]), offsets.count == 2 else {
        throw .invalidEntry(name: name, detail: "'data_offsets' must be [begin, end]")
      }
      let (begin, end) = (offsets[0], offsets[1])
      guard begin >= 0, begin <= end, end <= dataCount else {
        throw .dataOffsetsOutOfRange(name: name, begin: begin, end: end, dataBytes: dataCount)
      }
      var count = 1
      for d in shape {
        let (next, overflow) = count.multipliedReportingOverflow(by: d)
        if overflow { throw .invalidEntry(name: name, detail: "the element count overflows") }
        count = next
      }
      let (needed, overflow) = count.multipliedReportingOverflow(by: dtype.itemSize)
      if overflow || needed != end - begin {
        throw .sizeMismatch(name: name, shape: shape, dtype: dtype, bytes: end - begin)
      }
      tensors[name] = SafetensorsTensor(
        dtype: dtype, shape: shape, data: Array(bytes[(headerEnd + begin)..<(headerEnd + end)]))
    }
    self.init(tensors: tensors, metadata: metadata)
  }

  /// A JSON list of integers (NSNumber on Linux), `nil` when it is anything else.
  private static func integers(_ value: Any?) -> [Int]? {
    guard let list = value as? [Any] else { return nil }
    var result: [Int] = []
    for item in list {
      // Integers only: 2.5 or "3" are malformed. (`is Bool` is not checked: on Linux an
      // NSNumber 1 also casts to Bool.)
      guard let n = item as? NSNumber else { return nil }
      let d = n.doubleValue
      guard d == d.rounded(), abs(d) < 0x1p62 else { return nil }
      result.append(Int(d))
    }
    return result
  }

  /// The file's bytes: tensors in name order, packed back to back.
  public func encoded() -> [UInt8] {
    var entries: [String] = []
    var data: [UInt8] = []
    for name in tensors.keys.sorted() {
      let t = tensors[name]!
      let begin = data.count
      data += t.data
      entries.append(
        "\(Self.quote(name)):{\"dtype\":\"\(t.dtype.rawValue)\",\"shape\":["
          + t.shape.map(String.init).joined(separator: ",")
          + "],\"data_offsets\":[\(begin),\(data.count)]}")
    }
    if !metadata.isEmpty {
      let pairs = metadata.keys.sorted().map { "\(Self.quote($0)):\(Self.quote(metadata[$0]!))" }
      entries.insert("\"__metadata__\":{" + pairs.joined(separator: ",") + "}", at: 0)
    }
    var header = Array(("{" + entries.joined(separator: ",") + "}").utf8)
    // Pad with spaces to a multiple of 8 so the data buffer is 8-byte aligned (as the
    // reference writer does).
    while (8 + header.count) % 8 != 0 { header.append(0x20) }
    var out: [UInt8] = []
    let n = UInt64(header.count)
    for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: n >> (8 * UInt64(i)))) }
    return out + header + data
  }

  /// Writes the file, replacing any at `path`.
  public func write(to path: String) throws(SafetensorsError) {
    if !FileManager.default.createFile(atPath: path, contents: Data(encoded())) {
      throw .io(path: path, reason: "cannot write")
    }
  }

  private static func quote(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
      switch u {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case _ where u.value < 0x20: out += String(format: "\\u%04x", u.value)
      default: out.unicodeScalars.append(u)
      }
    }
    return out + "\""
  }
}

/// Element types read from `.safetensors` files.
public enum SafetensorsDType: String, Hashable, Sendable, CaseIterable {
  case f32 = "F32"
  case f16 = "F16"
  case bf16 = "BF16"

  public var itemSize: Int { self == .f32 ? 4 : 2 }
}

/// One tensor of a `.safetensors` file.
public struct SafetensorsTensor: Hashable, Sendable {
  public var dtype: SafetensorsDType
  public var shape: [Int]
  /// Little-endian, C order.
  public var data: [UInt8]

  public init(dtype: SafetensorsDType, shape: [Int], data: [UInt8]) {
    self.dtype = dtype
    self.shape = shape
    self.data = data
  }

  /// A float32 tensor.
  public init(shape: [Int], float32 values: [Float]) {
    var bytes = [UInt8](repeating: 0, count: values.count * 4)
    bytes.withUnsafeMutableBytes { raw in
      for (i, x) in values.enumerated() {
        raw.storeBytes(of: x.bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self)
      }
    }
    self.init(dtype: .f32, shape: shape, data: bytes)
  }

  /// The elements widened to Float: F16 exactly (IEEE half), BF16 exactly (the top 16 bits of
  /// a float32).
  public func floatValues() -> [Float] {
    let count = data.count / dtype.itemSize
    return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
      data.withUnsafeBytes { raw in
        for i in 0..<count {
          switch dtype {
          case .f32:
            buffer[i] = Float(
              bitPattern: UInt32(
                littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
          case .f16:
            buffer[i] = NPYArray.widen(
              half: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
          case .bf16:
            let h = UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
            buffer[i] = Float(bitPattern: UInt32(h) << 16)
          }
        }
      }
      initialized = count
    }
  }
}

/// Everything that can be wrong with a `.safetensors` file.
public enum SafetensorsError: Error, Hashable, Sendable, CustomStringConvertible {
  /// Fewer than the 8 bytes of the header length.
  case fileTooShort(bytes: Int)
  /// The header length points past the end of the file (or beyond the 100 MB limit).
  case headerLengthOutOfRange(length: UInt64, available: Int)
  /// The header is not a JSON object.
  case headerNotJSON(String)
  /// A tensor entry lacks a field or has one of the wrong type.
  case invalidEntry(name: String, detail: String)
  /// A dtype other than F32, F16, BF16.
  case unsupportedDType(name: String, dtype: String)
  /// `data_offsets` reach outside the data buffer or are reversed.
  case dataOffsetsOutOfRange(name: String, begin: Int, end: Int, dataBytes: Int)
  /// The byte range does not hold exactly shape × itemsize bytes.
  case sizeMismatch(name: String, shape: [Int], dtype: SafetensorsDType, bytes: Int)
  /// Reading or writing the file failed.
  case io(path: String, reason: String)

  public var description: String {
    switch self {
    case .fileTooShort(let n):
      return "not a .safetensors file: \(n) bytes, expected at least the 8-byte header length"
    case .headerLengthOutOfRange(let length, let available):
      return "malformed .safetensors file: header length \(length) exceeds the \(available)"
        + " bytes after the length field (or the 100 MB limit)"
    case .headerNotJSON(let detail):
      return "malformed .safetensors header: \(detail); expected a JSON object"
    case .invalidEntry(let name, let detail):
      return "malformed .safetensors entry '\(name)': \(detail)"
    case .unsupportedDType(let name, let dtype):
      return "tensor '\(name)': dtype \(dtype) is not supported; expected F32, F16 or BF16"
    case .dataOffsetsOutOfRange(let name, let begin, let end, let dataBytes):
      return "tensor '\(name)': data_offsets [\(begin), \(end)] are outside the data buffer"
        + " of \(dataBytes) bytes"
    case .sizeMismatch(let name, let shape, let dtype, let bytes):
      return "tensor '\(name)': shape \(shape) of \(dtype.rawValue) needs"
        + " \(shape.reduce(1, *) * dtype.itemSize) bytes, data_offsets give \(bytes)"
    case .io(let path, let reason):
      return "\(path): \(reason)"
    }
  }
}
