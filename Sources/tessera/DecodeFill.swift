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
}
