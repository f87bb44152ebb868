import Foundation
import Tessera
import Testing

// Shared fixtures of the decode, KV cache and merge tests: random sequences held in a cache, and
// the Double reference run per sequence on the cache's exact contents.

/// SplitMix64, local to the decode tests so they do not depend on other suites' helpers.
struct DecodeRandom {
  private var state: UInt64
  init(seed: UInt64) { state = seed }

  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// Uniform in [-amplitude, amplitude), rounded to `type`.
  mutating func floats(_ count: Int, amplitude: Float = 1, type: ScalarType = .float32) -> [Float] {
    (0..<count).map { _ in
      decodeRound(Float(Int64(next() >> 40) - (1 << 23)) / Float(1 << 23) * amplitude, to: type)
    }
  }
}

/// The Float value `x` has once stored as `type`.
func decodeRound(_ x: Float, to type: ScalarType) -> Float {
  switch type {
  case .float32: x
  case .float16: Float(Float16(x))
  case .bfloat16: BFloat16(x).float
  }
}

/// Bytes of `values` stored as `type`.
func decodeEncode(_ values: [Float], as type: ScalarType) -> [UInt8] {
  var bytes: [UInt8] = []
  bytes.reserveCapacity(values.count * type.byteCount)
  for x in values {
    let bits: UInt32
    switch type {
    case .float32: bits = x.bitPattern
    case .float16: bits = UInt32(Float16(x).bitPattern)
    case .bfloat16: bits = UInt32(BFloat16(x).bitPattern)
    }
    for i in 0..<type.byteCount { bytes.append(UInt8(truncatingIfNeeded: bits >> (8 * i))) }
  }
  return bytes
}

/// Floats decoded from bytes of `type`.
func decodeDecode(_ bytes: [UInt8], count: Int, as type: ScalarType) -> [Float] {
  (0..<count).map { i in
    var bits: UInt32 = 0
    for j in 0..<type.byteCount { bits |= UInt32(bytes[i * type.byteCount + j]) << (8 * j) }
    switch type {
    case .float32: return Float(bitPattern: bits)
    case .float16: return Float(Float16(bitPattern: UInt16(bits)))
    case .bfloat16: return BFloat16(bitPattern: UInt16(bits)).float
    }
  }
}

/// Random tokens for a few sequences, kept as Float (already rounded to the cache type) so the
/// reference sees exactly what the cache holds.
struct DecodeFixture {
  var kvHeads: Int
  var headDim: Int
  var valueDim: Int
  var type: ScalarType
  var keys: [[Float]]  // per sequence: (length, kvHeads, headDim)
  var values: [[Float]]  // per sequence: (length, kvHeads, valueDim)

  init(
    lengths: [Int], kvHeads: Int, headDim: Int, valueDim: Int? = nil, type: ScalarType,
    seed: UInt64, amplitude: Float = 1
  ) {
    self.kvHeads = kvHeads
    self.headDim = headDim
    self.valueDim = valueDim ?? headDim
    self.type = type
    var rng = DecodeRandom(seed: seed)
    keys = lengths.map { rng.floats($0 * kvHeads * headDim, amplitude: amplitude, type: type) }
    values = lengths.map { rng.floats($0 * kvHeads * (valueDim ?? headDim), type: type) }
  }

  var lengths: [Int] { keys.map { $0.count / (kvHeads * headDim) } }

  /// Appends sequence s's tokens in chunks of uneven sizes (exercising partial blocks), as
  /// Float32 or as the cache's own type.
  func fill(_ append: (Int, [Float], [Float]) throws -> Void) rethrows {
    for s in keys.indices {
      var t = 0
      var chunk = 1
      while t < lengths[s] {
        let n = min(chunk, lengths[s] - t)
        try append(
          s, Array(keys[s][t * kvHeads * headDim..<(t + n) * kvHeads * headDim]),
          Array(values[s][t * kvHeads * valueDim..<(t + n) * kvHeads * valueDim]))
        t += n
        chunk = chunk * 3 + 1
      }
    }
  }

  func contiguous(capacity: Int? = nil, nativeAppend: Bool = false) throws -> ContiguousKVCache {
    let cache = try ContiguousKVCache(
      sequences: keys.count, capacity: capacity ?? max(1, lengths.max() ?? 1), kvHeads: kvHeads,
      headDim: headDim, valueDim: valueDim, scalarType: type)
    try fill { s, k, v in
      if nativeAppend {
        let kb = decodeEncode(k, as: type)
        let vb = decodeEncode(v, as: type)
        try kb.withUnsafeBytes { kr in
          try vb.withUnsafeBytes { vr in
            try cache.append(
              sequence: s, keys: kr, values: vr, tokens: k.count / (kvHeads * headDim), type: type)
          }
        }
      } else {
        try cache.append(sequence: s, keys: k, values: v)
      }
    }
    return cache
  }

  func paged(blockSize: Int, spareBlocks: Int = 3) throws -> PagedKVCache {
    let blocks = lengths.reduce(0) { $0 + ($1 + blockSize - 1) / blockSize } + spareBlocks
    let cache = try PagedKVCache(
      sequences: keys.count, blocks: blocks, blockSize: blockSize, kvHeads: kvHeads,
      headDim: headDim, valueDim: valueDim, scalarType: type)
    // Interleave the sequences' appends so their blocks are not in order in the pool.
    var chunks: [(ordinal: Int, sequence: Int, keys: [Float], values: [Float])] = []
    var ordinal = [Int](repeating: 0, count: keys.count)
    fill { s, k, v in
      chunks.append((ordinal[s], s, k, v))
      ordinal[s] += 1
    }
    chunks.sort { ($0.ordinal, $0.sequence) < ($1.ordinal, $1.sequence) }
    for c in chunks { try cache.append(sequence: c.sequence, keys: c.keys, values: c.values) }
    return cache
  }
}

/// Decode O and LSE next to the Double reference for every batch entry.
struct DecodeComparison: CustomStringConvertible {
  var outputError = 0.0
  var lseError = 0.0
  var mismatches = 0

  var description: String {
    "maxErr(O)=\(outputError) maxErr(LSE)=\(lseError) maskedMismatches=\(mismatches)"
  }
}

/// Tolerance of O by output storage: Float32 as the prefill suite (4e-6); Float16 and BFloat16
/// add the final rounding of |O| ≤ 1, half an ulp: 2⁻¹¹ ≈ 4.9e-4 and 2⁻⁸ ≈ 3.9e-3, doubled.
func decodeOutputTolerance(_ type: ScalarType) -> Double {
  switch type {
  case .float32: 4e-6
  case .float16: 1e-3
  case .bfloat16: 8e-3
  }
}

/// Runs `problem` on `cache` and compares with the reference on `fixture`'s exact contents.
func compareDecode(
  _ problem: DecodeProblem, queries: [Float], cache: KVCache, fixture: DecodeFixture,
  options: DecodeOptions
) throws -> DecodeComparison {
  let counts = try problem.validate(cache: cache)
  let qBytes = decodeEncode(queries, as: problem.queryType)
  var oBytes = [UInt8](repeating: 0xFF, count: counts.output * problem.outputType.byteCount)
  var lse = [Float](repeating: .nan, count: counts.lse)
  try qBytes.withUnsafeBytes { q in
    try oBytes.withUnsafeMutableBytes { o in
      try lse.withUnsafeMutableBufferPointer { l in
        try Decode.forward(problem, queries: q, cache: cache, output: o, lse: l, options: options)
      }
    }
  }
  let output = decodeDecode(oBytes, count: counts.output, as: problem.outputType)
  let qExact = queries.map { decodeRound($0, to: problem.queryType) }
  let hq = problem.queryHeads
  let sq = problem.queryLength
  let d = fixture.headDim
  let dv = fixture.valueDim
  var c = DecodeComparison()
  for b in 0..<problem.batch {
    let s = problem.sequence(b)
    let length = fixture.lengths[s]
    var refO = [Double](repeating: 0, count: sq * hq * dv)
    var refLSE = [Double](repeating: -.infinity, count: hq * sq)
    if length > 0 {
      let shape = AttentionShape(
        queryHeads: hq, kvHeads: fixture.kvHeads, queryLength: sq, keyLength: length,
        headDim: d, valueDim: dv)
      let ap = AttentionProblem(
        shape: shape, mask: problem.mask, scale: problem.scale, modifiers: problem.modifiers)
      let q = Array(qExact[b * sq * hq * d..<(b + 1) * sq * hq * d])
      let r = try q.withUnsafeBufferPointer { qp in
        try fixture.keys[s].withUnsafeBufferPointer { kp in
          try fixture.values[s].withUnsafeBufferPointer { vp in
            try ReferenceAttention.compute(ap, q: qp, k: kp, v: vp)
          }
        }
      }
      refO = r.output
      refLSE = r.lse
    } else if let sinks = problem.modifiers.sinks {
      // No key: the sink alone takes all the mass; O = 0, LSE = sink.
      for h in 0..<hq { for t in 0..<sq { refLSE[h * sq + t] = Double(sinks[h]) } }
    }
    for i in 0..<refO.count {
      let x = output[b * sq * hq * dv + i]
      if !x.isFinite { c.mismatches += 1 }
      c.outputError = max(c.outputError, abs(Double(x) - refO[i]))
    }
    for i in 0..<refLSE.count {
      let x = lse[b * hq * sq + i]
      let y = refLSE[i]
      if y == -.infinity || x == -.infinity {
        if Double(x) != y { c.mismatches += 1 }
        continue
      }
      if x.isNaN { c.mismatches += 1 }
      c.lseError = max(c.lseError, abs(Double(x) - y))
    }
  }
  return c
}

/// Runs decode and returns O's raw bytes and LSE (for bitwise comparisons).
func runDecode(
  _ problem: DecodeProblem, queries: [Float], cache: KVCache, options: DecodeOptions
) throws -> (output: [UInt8], lse: [Float]) {
  let counts = try problem.validate(cache: cache)
  let qBytes = decodeEncode(queries, as: problem.queryType)
  var oBytes = [UInt8](repeating: 0xFF, count: counts.output * problem.outputType.byteCount)
  var lse = [Float](repeating: .nan, count: counts.lse)
  try qBytes.withUnsafeBytes { q in
    try oBytes.withUnsafeMutableBytes { o in
      try lse.withUnsafeMutableBufferPointer { l in
        try Decode.forward(problem, queries: q, cache: cache, output: o, lse: l, options: options)
      }
    }
  }
  return (oBytes, lse)
}

func decodeBitwiseEqual(_ a: [Float], _ b: [Float]) -> Bool {
  a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern }
}

/// A runtime with `cpus` worker slots on one node (or split over two fake nodes), taking every
/// thread it is asked for however small the call.
func decodeRuntime(cpus: Int, nodes: Int = 1) -> Runtime {
  if nodes == 1 {
    return Runtime(
      topology: Topology(nodes: [.init(id: 0, cpus: Array(0..<cpus))]), minimumWorkPerWorker: 0)
  }
  let perNode = (cpus + nodes - 1) / nodes
  let topology = Topology(
    nodes: (0..<nodes).map { n in
      Topology.Node(id: .init(n), cpus: Array((n * perNode)..<min(cpus, (n + 1) * perNode)))
    })
  return Runtime(topology: topology, minimumWorkPerWorker: 0)
}

@Suite struct DecodeFixturesTests {
  /// The fixtures themselves: a cache returns exactly the tokens it was given.
  @Test func fixtureRoundTrip() throws {
    let f = DecodeFixture(lengths: [5, 0, 17], kvHeads: 2, headDim: 12, type: .bfloat16, seed: 1)
    let cache = try f.paged(blockSize: 4)
    for s in 0..<3 {
      let (k, v) = try cache.contents(of: s)
      #expect(k == f.keys[s])
      #expect(v == f.values[s])
    }
  }
}
