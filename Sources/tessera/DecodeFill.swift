import Tessera

/// A fast xorshift generator for benchmark data (uniform in [-1, 1)).
struct DecodeFill {
  var state: UInt64

  init(seed: UInt64) { state = seed | 1 }

  mutating func fill(_ x: inout [Float]) {
    for i in x.indices {
      state ^= state << 13
      state ^= state >> 7
      state ^= state << 17
      x[i] = Float(Int32(truncatingIfNeeded: state >> 32)) * (1 / 2_147_483_648)
    }
  }

  static func store(_ x: [Float], as type: ScalarType, into buffer: UnsafeMutableRawBufferPointer) {
    for (i, v) in x.enumerated() {
      switch type {
      case .float32: buffer.storeBytes(of: v, toByteOffset: 4 * i, as: Float.self)
      case .float16: buffer.storeBytes(of: Float16(v), toByteOffset: 2 * i, as: Float16.self)
      case .bfloat16:
        buffer.storeBytes(of: BFloat16(v).bitPattern, toByteOffset: 2 * i, as: UInt16.self)
      }
    }
  }

  /// `count` random values stored as `type` in a new 64-byte-aligned buffer (the caller
  /// deallocates it).
  static func buffer(count: Int, type: ScalarType, seed: UInt64) -> UnsafeMutableRawBufferPointer {
    var generator = DecodeFill(seed: seed)
    var floats = [Float](repeating: 0, count: count)
    generator.fill(&floats)
    let buffer = UnsafeMutableRawBufferPointer.allocate(
      byteCount: count * type.byteCount, alignment: 64)
    store(floats, as: type, into: buffer)
    return buffer
  }

  /// Appends `tokens` random Float32 tokens to each of `sequences` sequences, `chunk` tokens at
  /// a time, round-robin over the sequences (as a server interleaves requests), through
  /// `append(sequence, keys, values, count)`; a token has `keyWidth` key floats (kv heads ×
  /// head dim) and `valueWidth` value floats.
  static func fillCache(
    sequences: Int, tokens: Int, chunk: Int, keyWidth: Int, valueWidth: Int, seed: UInt64,
    _ append: (Int, UnsafeRawBufferPointer, UnsafeRawBufferPointer, Int) throws -> Void
  ) throws {
    var generator = DecodeFill(seed: seed)
    var keys = [Float](repeating: 0, count: chunk * keyWidth)
    var values = [Float](repeating: 0, count: chunk * valueWidth)
    var t = 0
    while t < tokens {
      let n = min(chunk, tokens - t)
      for s in 0..<sequences {
        generator.fill(&keys)
        generator.fill(&values)
        try keys.withUnsafeBytes { k in
          try values.withUnsafeBytes { v in try append(s, k, v, n) }
        }
      }
      t += n
    }
  }
}
