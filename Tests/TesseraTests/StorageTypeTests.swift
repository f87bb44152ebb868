import Tessera
import Testing

// MARK: - Raw-buffer helpers shared by the variant tests

/// `values` stored as `type`, rounded to nearest (ties to even) where narrower than Float32.
func storageEncode(_ values: [Float], as type: ScalarType) -> [UInt8] {
  switch type {
  case .float32: return values.withUnsafeBytes { Array($0) }
  case .float16: return values.map { Float16($0) }.withUnsafeBytes { Array($0) }
  case .bfloat16: return values.map { BFloat16($0).bitPattern }.withUnsafeBytes { Array($0) }
  }
}

/// The Float values of `bytes` stored as `type` (exact: every narrow value is a Float).
func storageDecode(_ bytes: [UInt8], as type: ScalarType) -> [Float] {
  bytes.withUnsafeBytes { raw in
    switch type {
    case .float32: return Array(raw.bindMemory(to: Float.self))
    case .float16: return raw.bindMemory(to: Float16.self).map { Float($0) }
    case .bfloat16: return raw.bindMemory(to: UInt16.self).map { Float(BFloat16(bitPattern: $0)) }
    }
  }
}

/// `values` rounded to `type` and widened back: what the kernel sees after loading them.
func storageRounded(_ values: [Float], to type: ScalarType) -> [Float] {
  storageDecode(storageEncode(values, as: type), as: type)
}

extension AttentionCase {
  /// The same case with Q, K, V rounded to their storage types, so the Double reference sees
  /// exactly the values the kernel loads.
  var roundedToStorage: AttentionCase {
    AttentionCase(
      problem, q: storageRounded(q, to: problem.query.scalarType),
      k: storageRounded(k, to: problem.key.scalarType),
      v: storageRounded(v, to: problem.value.scalarType))
  }
}

/// Sets the storage types of Q, K, V and O (layouts unchanged).
func withTypes(
  _ p: AttentionProblem, q: ScalarType, k: ScalarType, v: ScalarType, o: ScalarType
) -> AttentionProblem {
  var p = p
  p.query.scalarType = q
  p.key.scalarType = k
  p.value.scalarType = v
  p.output.scalarType = o
  return p
}

/// Runs the raw-buffer API: Q, K, V encoded as the problem's storage types, an optional Float32
/// bias, O pre-filled with all-ones bytes (NaN in every type) and LSE with NaN. Returns O widened
/// to Float and gathered into contiguous (b, s, h, dv) order, and LSE.
func runRaw(
  _ c: AttentionCase, bias: [Float]? = nil, biasCount: Int? = nil,
  options: AttentionOptions = AttentionOptions(threads: 2)
) throws(AttentionError) -> KernelOutput {
  let p = c.problem
  let counts = try p.validate()
  let qb = storageEncode(c.q, as: p.query.scalarType)
  let kb = storageEncode(c.k, as: p.key.scalarType)
  let vb = storageEncode(c.v, as: p.value.scalarType)
  var ob = [UInt8](repeating: 0xFF, count: counts.output * p.output.scalarType.byteCount)
  var lse = [Float](repeating: .nan, count: counts.lse)
  let biasBuffer = bias.map { b in biasCount.map { Array(b.prefix($0)) } ?? b }
  let result: Result<Void, AttentionError> = qb.withUnsafeBytes { q in
    kb.withUnsafeBytes { k in
      vb.withUnsafeBytes { v in
        ob.withUnsafeMutableBytes { o in
          lse.withUnsafeMutableBufferPointer { l in
            func call(_ bp: UnsafeBufferPointer<Float>?) -> Result<Void, AttentionError> {
              Result { () throws(AttentionError) in
                try Attention.forward(
                  p, q: q, k: k, v: v, output: o, lse: l, bias: bp, options: options)
              }
            }
            guard let biasBuffer else { return call(nil) }
            return biasBuffer.withUnsafeBufferPointer { call($0) }
          }
        }
      }
    }
  }
  try result.get()
  let out = storageDecode(ob, as: p.output.scalarType)
  let s = p.shape
  var dense = [Float]()
  dense.reserveCapacity(s.batch * s.queryLength * s.queryHeads * s.valueDim)
  for b in 0..<s.batch {
    for i in 0..<s.queryLength {
      for h in 0..<s.queryHeads {
        let base = p.output.layout.offset(batch: b, sequence: i, head: h)
        dense.append(contentsOf: out[base..<base + s.valueDim])
      }
    }
  }
  return KernelOutput(output: dense, lse: lse)
}

/// Unit roundoff of storing a value as `type`: |x − fl(x)| ≤ u·|x| for normal results
/// (half an ulp; p significand bits give u = 2⁻ᵖ: Float16 p = 11, BFloat16 p = 8).
func unitRoundoff(_ type: ScalarType) -> Double {
  switch type {
  case .float32: 0
  case .float16: 0x1p-11
  case .bfloat16: 0x1p-8
  }
}

/// Worst excess of |O − O_ref| over the storage rounding `u·|O_ref|`: the kernel computes
/// O in Float32 (within `outputTolerance` of the reference) and rounds it once to the output
/// type, so |O − O_ref| ≤ u·|O_ref| + (1 + u)·outputTolerance. Subnormal Float16 outputs
/// (|O| < 2⁻¹⁴) round by at most 2⁻²⁵ ≈ 3e-8 absolute, far inside `outputTolerance`.
func roundedOutputExcess(
  _ kernel: KernelOutput, _ reference: ReferenceAttention.Result, type: ScalarType
) -> Double {
  let u = unitRoundoff(type)
  var worst = 0.0
  for (x, y) in zip(kernel.output, reference.output) {
    if !x.isFinite { return .infinity }
    worst = max(worst, abs(Double(x) - y) - u * abs(y))
  }
  return worst
}

/// Compares a raw run of `c` (inputs already representable in their storage types) with the
/// reference: O within the output type's rounding, LSE (always Float32) within `lseTolerance`,
/// masked rows exact.
func expectMatchesReferenceRounded(
  _ c: AttentionCase, bias: [Float]? = nil,
  options: AttentionOptions = AttentionOptions(threads: 2),
  _ label: String, sourceLocation: SourceLocation = #_sourceLocation
) throws {
  let kernel = try runRaw(c, bias: bias, options: options)
  let ref = try reference(c)
  let cmp = compare(kernel, ref, problem: c.problem)
  let excess = roundedOutputExcess(kernel, ref, type: c.problem.output.scalarType)
  let u = unitRoundoff(c.problem.output.scalarType)
  #expect(
    excess <= (1 + u) * outputTolerance, "\(label): O exceeds rounding by \(excess)",
    sourceLocation: sourceLocation)
  #expect(
    cmp.lseError <= lseTolerance && cmp.maskedRowMismatches == 0 && cmp.nonFinite == 0,
    "\(label): \(cmp)", sourceLocation: sourceLocation)
}

// MARK: - Tests

/// Float16 and BFloat16 storage of Q, K, V and O, alone and mixed, against the Double reference
/// run on the inputs rounded to their storage types. Compute and LSE stay Float32, so LSE keeps
/// the Float32 tolerance and O gets the output type's rounding on top (derivation at
/// `roundedOutputExcess`); a wrong conversion (truncation instead of rounding, a byte-stride
/// bug, a swapped type) moves O by ≥ 2⁻⁸ relative or reads garbage, far outside it.
@Suite struct StorageTypeTests {
  // MARK: BFloat16 conversion

  @Test func bfloat16RoundsToNearestTiesToEven() {
    func bits(_ x: Float) -> UInt16 { BFloat16(x).bitPattern }
    #expect(bits(1) == 0x3F80)
    #expect(bits(-2) == 0xC000)
    // 1 + 2⁻⁸ is halfway between 1 (even mantissa) and 1 + 2⁻⁷: ties to even, down.
    #expect(bits(1 + 0x1p-8) == 0x3F80)
    // 1 + 3·2⁻⁸ is halfway between 1 + 2⁻⁷ (odd) and 1 + 2⁻⁶ (even): up.
    #expect(bits(1 + 3 * 0x1p-8) == 0x3F82)
    // Just above and below the halfway point round to the nearer value.
    #expect(bits(Float(bitPattern: 0x3F80_8001)) == 0x3F81)
    #expect(bits(Float(bitPattern: 0x3F80_7FFF)) == 0x3F80)
    #expect(bits(-Float(bitPattern: 0x3F80_8001)) == 0xBF81)
    // The carry of rounding up propagates into the exponent.
    #expect(bits(Float(bitPattern: 0x3FFF_FFFF)) == 0x4000)
    // Signed zeros, subnormals.
    #expect(bits(0) == 0x0000)
    #expect(bits(-0.0) == 0x8000)
    #expect(bits(Float(bitPattern: 0x0000_0001)) == 0x0000)
    #expect(bits(Float(bitPattern: 0x0001_8000)) == 0x0002)  // tie, odd → up to even
    #expect(bits(Float.leastNormalMagnitude) == 0x0080)
  }

  @Test func bfloat16InfinitiesAndNaN() {
    #expect(BFloat16(Float.infinity).bitPattern == 0x7F80)
    #expect(BFloat16(-Float.infinity).bitPattern == 0xFF80)
    // The largest Float is past the halfway point to 2¹²⁸: rounds to +∞, as IEEE requires.
    #expect(BFloat16(Float.greatestFiniteMagnitude).bitPattern == 0x7F80)
    #expect(BFloat16(-Float.greatestFiniteMagnitude).bitPattern == 0xFF80)
    // The largest BFloat16 survives.
    #expect(BFloat16(Float(bitPattern: 0x7F7F_0000)).bitPattern == 0x7F7F)
    // NaN stays NaN (quiet), sign kept — including payloads only in the dropped low bits,
    // which plain truncation would turn into ±∞.
    for pattern: UInt32 in [0x7FC0_0000, 0xFFC0_0000, 0x7F80_0001, 0xFF80_0001, 0x7FA0_0000] {
      let b = BFloat16(Float(bitPattern: pattern))
      #expect(b.float.isNaN, "\(String(pattern, radix: 16))")
      #expect(b.bitPattern & 0x0040 != 0, "quiet bit for \(String(pattern, radix: 16))")
      #expect(b.bitPattern & 0x8000 == UInt16(pattern >> 16) & 0x8000)
    }
    #expect(Float(BFloat16(bitPattern: 0x7FC0)).isNaN)
    #expect(BFloat16(bitPattern: 0x7F80).float == .infinity)
  }

  /// Every non-NaN BFloat16 widens exactly and converts back to itself.
  @Test func bfloat16RoundTripsEveryValue() {
    var failures = 0
    for pattern in 0...UInt16.max {
      let b = BFloat16(bitPattern: pattern)
      if b.float.isNaN { continue }
      if BFloat16(b.float).bitPattern != pattern || b.float.bitPattern != UInt32(pattern) << 16 {
        failures += 1
      }
    }
    #expect(failures == 0)
  }

  // MARK: Kernel with narrow storage

  static let typeSets: [(ScalarType, ScalarType, ScalarType, ScalarType)] = [
    (.float16, .float16, .float16, .float16),
    (.bfloat16, .bfloat16, .bfloat16, .bfloat16),
    (.float32, .float16, .float16, .float32),  // half-precision KV cache
    (.float32, .bfloat16, .bfloat16, .float16),
    (.bfloat16, .float16, .float32, .bfloat16),
    (.float16, .float32, .bfloat16, .float32),
  ]

  @Test(arguments: 0..<typeSets.count)
  func againstReferenceOnRoundedInputs(set: Int) throws {
    let (tq, tk, tv, to) = Self.typeSets[set]
    for (mask, sq, skv, order) in [
      (AttentionMask.causal, 77, 130, LayoutOrder.bshd), (.none, 50, 50, .bhsd),
      (.causalTopLeft, 130, 61, .bshd),
    ] {
      let shape = AttentionShape(
        batch: 2, queryHeads: 4, kvHeads: 2, queryLength: sq, keyLength: skv, headDim: 40,
        valueDim: 24)
      let p = withTypes(
        AttentionProblem(shape: shape, mask: mask, order: order), q: tq, k: tk, v: tv, o: to)
      let c = AttentionCase(p, seed: UInt64(7 * set + sq)).roundedToStorage
      try expectMatchesReferenceRounded(c, "\(p)")
    }
  }

  /// Narrow storage only changes loads and the final store: on inputs already representable in
  /// their types, Float16/BFloat16 storage gives LSE bitwise equal to Float32 storage and O equal
  /// to the Float32-storage O rounded once to the output type. Catches double rounding,
  /// truncation and any storage-dependent change of the arithmetic.
  @Test(arguments: 0..<typeSets.count)
  func narrowStorageEqualsRoundedFloat32(set: Int) throws {
    let (tq, tk, tv, to) = Self.typeSets[set]
    let shape = AttentionShape(
      queryHeads: 2, kvHeads: 1, queryLength: 100, keyLength: 90, headDim: 33, valueDim: 20)
    let narrow = withTypes(
      AttentionProblem(shape: shape, mask: .causal), q: tq, k: tk, v: tv, o: to)
    let c = AttentionCase(narrow, seed: 99).roundedToStorage
    let wide = AttentionCase(AttentionProblem(shape: shape, mask: .causal), q: c.q, k: c.k, v: c.v)
    let a = try runRaw(c, options: AttentionOptions(threads: 1))
    let b = try runKernel(wide, options: AttentionOptions(threads: 1))
    #expect(bitwiseEqual(a.lse, b.lse))
    #expect(bitwiseEqual(a.output, storageRounded(b.output, to: to)))
  }

  /// The raw API checks buffer sizes in elements of each tensor's own type, and the Float32-only
  /// API refuses narrow problems.
  @Test func byteCountsAndUnsupportedTypes() throws {
    let shape = AttentionShape(queryHeads: 2, queryLength: 5, keyLength: 6, headDim: 8)
    let p = withTypes(
      AttentionProblem(shape: shape), q: .float32, k: .float16, v: .bfloat16, o: .float16)
    let counts = try p.validate()
    let bytes = (q: counts.query * 4, k: counts.key * 2, v: counts.value * 2, o: counts.output * 2)
    let options = AttentionOptions(threads: 1)
    try Attention.validate(
      p, qBytes: bytes.q, kBytes: bytes.k, vBytes: bytes.v, outputBytes: bytes.o, lse: nil,
      options: options)
    ValidationTests.expectError(
      .bufferTooSmall(tensor: "K", required: counts.key, actual: counts.key - 1),
      mentioning: ["K"]
    ) { () throws(AttentionError) in
      try Attention.validate(
        p, qBytes: bytes.q, kBytes: bytes.k - 2, vBytes: bytes.v, outputBytes: bytes.o, lse: nil,
        options: options)
    }
    // A Float16 O buffer sized as if it held Float32 elements' count of bytes/4 is too small.
    ValidationTests.expectError(
      .bufferTooSmall(tensor: "O", required: counts.output, actual: counts.output / 2),
      mentioning: ["O"]
    ) { () throws(AttentionError) in
      try Attention.validate(
        p, qBytes: bytes.q, kBytes: bytes.k, vBytes: bytes.v, outputBytes: counts.output,
        lse: nil, options: options)
    }
    ValidationTests.expectError(
      .unsupportedScalarType(tensor: "K", type: .float16, supported: [.float32]),
      mentioning: ["K", "float16"]
    ) { () throws(AttentionError) in
      _ = try Attention.forward(
        p, q: [Float](repeating: 0, count: counts.query),
        k: [Float](repeating: 0, count: counts.key), v: [Float](repeating: 0, count: counts.value),
        options: options)
    }
  }
}
