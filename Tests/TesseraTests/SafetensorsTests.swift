import Foundation
import Tessera
import Testing

@Suite struct SafetensorsTests {
  static func temporaryPath(_ name: String) -> String {
    NSTemporaryDirectory() + "tessera-\(ProcessInfo.processInfo.processIdentifier)-\(name)"
  }

  /// A file from a header string and data bytes, exactly as the format lays them out.
  static func file(header: String, data: [UInt8]) -> [UInt8] {
    let h = Array(header.utf8)
    var out: [UInt8] = []
    for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: UInt64(h.count) >> (8 * UInt64(i)))) }
    return out + h + data
  }

  @Test func roundTripFloat32ThroughAFile() throws {
    let a: [Float] = [1, -2.5, 3e-8, .infinity, 0, -0.0]
    let b: [Float] = (0..<12).map { Float($0) * 0.25 }
    let original = SafetensorsFile(
      tensors: [
        "a": SafetensorsTensor(shape: [2, 3], float32: a),
        "layer.b": SafetensorsTensor(shape: [3, 4], float32: b),
        "empty": SafetensorsTensor(shape: [0, 5], float32: []),
      ], metadata: ["format": "pt"])
    let path = Self.temporaryPath("round.safetensors")
    defer { try? FileManager.default.removeItem(atPath: path) }
    try original.write(to: path)
    let read = try SafetensorsFile(contentsOf: path)
    #expect(read.metadata == ["format": "pt"])
    #expect(read.tensors["a"]?.shape == [2, 3])
    #expect(bitwiseEqual(read.tensors["a"]!.floatValues(), a))
    #expect(read.tensors["layer.b"]!.floatValues() == b)
    #expect(read.tensors["empty"]?.shape == [0, 5])
    #expect(read.tensors == original.tensors)
    // The data buffer starts 8-byte aligned.
    let bytes = original.encoded()
    let n = bytes[0..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
    #expect((8 + n) % 8 == 0)
  }

  /// F16 and BF16 written by hand (little-endian) widen exactly.
  @Test func halfAndBFloat16() throws {
    // F16: 1.0 = 0x3C00, -2.0 = 0xC000, 65504 = 0x7BFF, smallest subnormal 2⁻²⁴ = 0x0001.
    // BF16: 1.0 = 0x3F80, 3.140625 = 0x4049, -0.0 = 0x8000.
    let f16: [UInt16] = [0x3C00, 0xC000, 0x7BFF, 0x0001]
    let bf16: [UInt16] = [0x3F80, 0x4049, 0x8000]
    let data = (f16 + bf16).flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
    let header =
      #"{"h":{"dtype":"F16","shape":[2,2],"data_offsets":[0,8]},"#
      + #""g":{"dtype":"BF16","shape":[3],"data_offsets":[8,14]}}"#
    let read = try SafetensorsFile(bytes: Self.file(header: header, data: data))
    #expect(read.tensors["h"]!.floatValues() == [1, -2, 65504, 0x1p-24])
    let g = read.tensors["g"]!.floatValues()
    #expect(g[0] == 1 && g[1] == 3.140625 && g[2] == 0 && g[2].sign == .minus)
  }

  @Test func malformedFiles() {
    func parse(_ bytes: [UInt8]) throws(SafetensorsError) { _ = try SafetensorsFile(bytes: bytes) }
    let four: [UInt8] = [0, 0, 0, 0]
    #expect(throws: SafetensorsError.fileTooShort(bytes: 4)) { try parse(four) }
    // Header length larger than the file.
    var long = Self.file(header: "{}", data: [])
    long[0] = 200
    #expect(throws: SafetensorsError.headerLengthOutOfRange(length: 200, available: 2)) {
      try parse(long)
    }
    #expect {
      try parse(Self.file(header: "{not json", data: []))
    } throws: { error in
      if case .headerNotJSON = error as? SafetensorsError { return true }
      return false
    }
    #expect(throws: SafetensorsError.headerNotJSON("the header is not a JSON object")) {
      try parse(Self.file(header: "[1, 2]", data: []))
    }
    #expect(throws: SafetensorsError.unsupportedDType(name: "x", dtype: "I32")) {
      try parse(
        Self.file(
          header: #"{"x":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}}"#, data: four))
    }
    #expect {
      try parse(Self.file(header: #"{"x":{"shape":[1],"data_offsets":[0,4]}}"#, data: four))
    } throws: { error in
      if case .invalidEntry(name: "x", _) = error as? SafetensorsError { return true }
      return false
    }
    #expect {
      try parse(
        Self.file(
          header: #"{"x":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#, data: four))
    } throws: { error in
      if case .invalidEntry(name: "x", _) = error as? SafetensorsError { return true }
      return false
    }
    #expect(
      throws: SafetensorsError.dataOffsetsOutOfRange(name: "x", begin: 0, end: 8, dataBytes: 4)
    ) {
      try parse(
        Self.file(header: #"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data: four))
    }
    #expect(
      throws: SafetensorsError.sizeMismatch(name: "x", shape: [2], dtype: .f32, bytes: 4)
    ) {
      try parse(
        Self.file(header: #"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#, data: four))
    }
    #expect {
      _ = try SafetensorsFile(contentsOf: "/nonexistent/dir/file.safetensors")
    } throws: { error in
      if case .io = error as? SafetensorsError { return true }
      return false
    }
  }
}
