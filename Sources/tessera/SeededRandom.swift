/// SplitMix64: a tiny, fast generator whose streams are identical on every platform and Swift
/// version, so `--seed` reproduces the same inputs (Swift's `SystemRandomNumberGenerator` is not
/// seedable).
struct SeededRandom: RandomNumberGenerator {
  private var state: UInt64

  init(seed: UInt64) { state = seed }

  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// Fills `buffer` with values uniform in [-1, 1): the top 24 bits give every Float in the
  /// grid exactly, without `Float.random(in:)`'s per-call overhead on 10⁷ elements.
  mutating func fill(_ buffer: UnsafeMutableBufferPointer<Float>) {
    for i in buffer.indices {
      buffer[i] = Float(next() >> 40) * 0x1p-23 - 1
    }
  }

  /// An array of `count` values uniform in [-1, 1).
  mutating func floats(_ count: Int) -> [Float] {
    [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
      fill(buffer)
      initialized = count
    }
  }
}
