import Foundation
import Tessera
import Testing

/// Attention with an additive bias computed naively in Double, independently of the library's
/// reference (which has no bias): O in contiguous (b, s, h, dv) order, LSE in (b, h, s) order,
/// keys with a −∞ bias hidden, rows without a key O = 0 and LSE = −∞. Mask and scale only.
func naiveBiasedAttention(
  _ c: AttentionCase, bias: (_ b: Int, _ h: Int, _ i: Int, _ j: Int) -> Double
) -> ReferenceAttention.Result {
  let p = c.problem
  let s = p.shape
  let scale = Double(p.effectiveScale)
  var output = [Double](repeating: 0, count: s.batch * s.queryLength * s.queryHeads * s.valueDim)
  var lse = [Double](repeating: -.infinity, count: s.batch * s.queryHeads * s.queryLength)
  for b in 0..<s.batch {
    for h in 0..<s.queryHeads {
      let kvh = h / (s.queryHeads / s.kvHeads)
      for i in 0..<s.queryLength {
        var logits: [(j: Int, x: Double)] = []
        for j in p.mask.visibleKeys(query: i, queryLength: s.queryLength, keyLength: s.keyLength) {
          let add = bias(b, h, i, j)
          if add == -.infinity { continue }
          var dot = 0.0
          let qo = p.query.layout.offset(batch: b, sequence: i, head: h)
          let ko = p.key.layout.offset(batch: b, sequence: j, head: kvh)
          for d in 0..<s.headDim { dot += Double(c.q[qo + d]) * Double(c.k[ko + d]) }
          logits.append((j, dot * scale + add))
        }
        guard let m = logits.map(\.x).max() else { continue }
        let sum = logits.reduce(0) { $0 + Foundation.exp($1.x - m) }
        let oBase = ((b * s.queryLength + i) * s.queryHeads + h) * s.valueDim
        for (j, x) in logits {
          let w = Foundation.exp(x - m) / sum
          let vo = p.value.layout.offset(batch: b, sequence: j, head: kvh)
          for d in 0..<s.valueDim { output[oBase + d] += w * Double(c.v[vo + d]) }
        }
        lse[(b * s.queryHeads + h) * s.queryLength + i] = m + Foundation.log(sum)
      }
    }
  }
  return makeReferenceResult(output: output, lse: lse)
}

/// A `ReferenceAttention.Result` holding `output` and `lse` (its initializer is internal to the
/// library; its fields are public vars, so one from a trivial call is overwritten).
func makeReferenceResult(output: [Double], lse: [Double]) -> ReferenceAttention.Result {
  let one: [Float] = [0]
  var r = one.withUnsafeBufferPointer { x in
    try! ReferenceAttention.compute(
      AttentionProblem(shape: AttentionShape(queryHeads: 1, queryLength: 1, headDim: 1)),
      q: x, k: x, v: x)
  }
  r.output = output
  r.lse = lse
  return r
}

/// Fills a bias buffer laid out by `layout` for `shape` from `value(b, h, i, j)`; elements the
/// layout does not address (padding) are NaN, so reading one poisons the result.
func makeBias(
  _ layout: BiasLayout, shape s: AttentionShape, count: Int,
  _ value: (_ b: Int, _ h: Int, _ i: Int, _ j: Int) -> Float
) -> [Float] {
  var buffer = [Float](repeating: .nan, count: count)
  for b in 0..<s.batch {
    for h in 0..<s.queryHeads {
      for i in 0..<s.queryLength {
        let row = b * layout.batchStride + h * layout.headStride + i * layout.queryStride
        for j in 0..<s.keyLength { buffer[row + j] = value(b, h, i, j) }
      }
    }
  }
  return buffer
}

/// The additive bias/mask tensor: dense and broadcast layouts against a naive Double
/// computation written in this file, −∞ entries as a mask against the reference's own masks,
/// a per-key bias against ALiBi, and every bias error.
@Suite struct BiasTests {
  static let shape = AttentionShape(
    batch: 2, queryHeads: 4, kvHeads: 2, queryLength: 70, keyLength: 90, headDim: 24, valueDim: 16)

  /// Runs `c` with `bias(b, h, i, j)` laid out by `layout` and compares with the naive
  /// computation of the same bias.
  static func check(
    _ c: AttentionCase, layout: BiasLayout, _ label: String,
    sourceLocation: SourceLocation = #_sourceLocation,
    bias: @escaping (Int, Int, Int, Int) -> Float
  ) throws {
    var c = c
    c.problem.bias = layout
    let counts = try c.problem.validate()
    let buffer = makeBias(layout, shape: c.problem.shape, count: counts.bias, bias)
    let kernel = try runRaw(c, bias: buffer)
    let expected = naiveBiasedAttention(c) { Double(bias($0, $1, $2, $3)) }
    let r = compare(kernel, expected, problem: c.problem)
    #expect(r.isWithin(), "\(label) \(c.problem): \(r)", sourceLocation: sourceLocation)
  }

  @Test(arguments: [
    AttentionMask.none, .causal, .causalTopLeft, .slidingWindow(left: 25),
    AttentionMask(causal: false, windowLeft: 10, windowRight: 5),
  ])
  func denseBias(mask: AttentionMask) throws {
    let c = AttentionCase(AttentionProblem(shape: Self.shape, mask: mask), seed: 31)
    // A deterministic pseudo-random bias in [−2, 2): a different value per (b, h, i, j).
    func value(_ b: Int, _ h: Int, _ i: Int, _ j: Int) -> Float {
      var rng = SplitMix64(seed: UInt64(((b * 4 + h) * 70 + i) * 90 + j))
      return 2 * rng.nextSigned()
    }
    try Self.check(c, layout: .dense(shape: Self.shape), "dense", bias: value)
    // The same dense bias with padded rows (query stride > Skv): padding is NaN, never read.
    let padded = BiasLayout(batchStride: 4 * 70 * 96, headStride: 70 * 96, queryStride: 96)
    try Self.check(c, layout: padded, "padded", bias: value)
  }

  @Test func broadcastStrides() throws {
    let s = Self.shape
    let c = AttentionCase(AttentionProblem(shape: s, mask: .causal), seed: 32)
    // One (Sq, Skv) bias for every batch and head.
    try Self.check(c, layout: .shared(shape: s), "shared") { _, _, i, j in
      Float((i * 7 + j * 3) % 11) * 0.2 - 1
    }
    // One row of keys per batch entry.
    try Self.check(
      c, layout: BiasLayout(batchStride: s.keyLength, headStride: 0, queryStride: 0), "per-batch"
    ) { b, _, _, j in Float(b + 1) * Float(j % 9) * 0.1 }
    // One row of keys per head (shared by batch entries and queries).
    try Self.check(
      c, layout: BiasLayout(batchStride: 0, headStride: s.keyLength, queryStride: 0), "per-head"
    ) { _, h, _, j in Float(h) * 0.3 - Float(j % 5) * 0.2 }
    // Per (b, h) key rows, heads-major inside batch: (B, H, 1, Skv).
    try Self.check(
      c,
      layout: BiasLayout(
        batchStride: s.queryHeads * s.keyLength, headStride: s.keyLength, queryStride: 0),
      "per-batch-head"
    ) { b, h, _, j in Float((b * 5 + h * 3 + j) % 7) * 0.25 - 0.5 }
    // A single key row for everything.
    try Self.check(
      c, layout: BiasLayout(batchStride: 0, headStride: 0, queryStride: 0), "per-key"
    ) { _, _, _, j in j % 4 == 0 ? -.infinity : Float(j) * 0.01 }
  }

  /// −∞ above the (bottom-right or top-left) diagonal is the causal mask: equal to the
  /// reference with that mask, including rows that see no key (O = 0, LSE = −∞).
  @Test(arguments: [AttentionMask.causal, .causalTopLeft], [(70, 90), (90, 70), (50, 50)])
  func infiniteBiasIsCausal(mask: AttentionMask, lengths: (Int, Int)) throws {
    let (sq, skv) = lengths
    let shape = AttentionShape(
      queryHeads: 2, queryLength: sq, keyLength: skv, headDim: 16, valueDim: 12)
    let masked = AttentionCase(AttentionProblem(shape: shape, mask: mask), seed: 33)
    var biased = masked
    biased.problem.mask = .none
    biased.problem.bias = .shared(shape: shape)
    let bias = makeBias(.shared(shape: shape), shape: shape, count: sq * skv) { _, _, i, j in
      mask.visibleKeys(query: i, queryLength: sq, keyLength: skv).contains(j) ? 0 : -.infinity
    }
    let kernel = try runRaw(biased, bias: bias)
    let r = compare(kernel, try reference(masked), problem: shape.problemFor(mask))
    #expect(r.isWithin(), "\(mask) Sq=\(sq) Skv=\(skv): \(r)")
    let empty = mask == .causal ? max(0, sq - skv) : 0
    #expect(r.maskedRows == empty * 2)
  }

  /// A −∞ bias must hide the key under a softcap too: the bias is added to the soft-capped
  /// scores (`BiasLayout`'s contract), so −∞ above the diagonal with softcap equals the causal
  /// mask with softcap (the reference).
  @Test func infiniteBiasMasksUnderSoftcap() throws {
    let (sq, skv) = (60, 60)
    let shape = AttentionShape(queryHeads: 2, queryLength: sq, keyLength: skv, headDim: 16)
    let modifiers = ScoreModifiers(softcap: 5)
    let masked = AttentionCase(
      AttentionProblem(shape: shape, mask: .causal, modifiers: modifiers), seed: 34, amplitude: 2)
    var biased = masked
    biased.problem.mask = .none
    biased.problem.bias = .shared(shape: shape)
    let bias = makeBias(.shared(shape: shape), shape: shape, count: sq * skv) { _, _, i, j in
      j <= i ? 0 : -.infinity
    }
    let kernel = try runRaw(biased, bias: bias)
    let r = compare(kernel, try reference(masked), problem: masked.problem)
    #expect(r.isWithin(), "softcap + −∞ bias vs softcap + causal: \(r)")
  }

  /// A finite bias under a softcap is added after the cap: compared with the naive
  /// computation cap·tanh(s/cap) + bias, written here.
  @Test func finiteBiasIsAddedAfterSoftcap() throws {
    let shape = AttentionShape(queryHeads: 1, queryLength: 30, keyLength: 40, headDim: 16)
    let cap = 3.0
    var c = AttentionCase(
      AttentionProblem(shape: shape, modifiers: ScoreModifiers(softcap: Float(cap))), seed: 35,
      amplitude: 2)
    c.problem.bias = BiasLayout(batchStride: 0, headStride: 0, queryStride: 0)
    let bias = (0..<40).map { Float($0 % 5) }  // up to 4 > cap: order matters
    let kernel = try runRaw(c, bias: bias)
    var expectedOut = [Double](repeating: 0, count: 30 * 16)
    var expectedLSE = [Double](repeating: 0, count: 30)
    for i in 0..<30 {
      let logits = (0..<40).map { j -> Double in
        var dot = 0.0
        for d in 0..<16 { dot += Double(c.q[i * 16 + d]) * Double(c.k[j * 16 + d]) }
        return cap * Foundation.tanh(dot / 4 / cap) + Double(bias[j])
      }
      let m = logits.max()!
      let sum = logits.reduce(0) { $0 + Foundation.exp($1 - m) }
      for j in 0..<40 {
        for d in 0..<16 {
          expectedOut[i * 16 + d] += Foundation.exp(logits[j] - m) / sum * Double(c.v[j * 16 + d])
        }
      }
      expectedLSE[i] = m + Foundation.log(sum)
    }
    let r = compare(
      kernel, makeReferenceResult(output: expectedOut, lse: expectedLSE), problem: c.problem)
    #expect(r.isWithin(), "\(r)")
  }

  /// A per-key bias slope·j under a causal mask is ALiBi up to a per-row constant:
  /// s − slope·(p − j) = s + slope·j − slope·p. So O equals the ALiBi reference, and
  /// LSE_bias = LSE_ALiBi + slope·p (computed here in Double).
  @Test func perKeyBiasEqualsAlibiShift() throws {
    let (sq, skv, heads) = (50, 64, 4)
    let slopes = ScoreModifiers.standardAlibiSlopes(heads: heads)
    let shape = AttentionShape(
      queryHeads: heads, kvHeads: 2, queryLength: sq, keyLength: skv, headDim: 20)
    let alibi = AttentionCase(
      AttentionProblem(
        shape: shape, mask: .causal, modifiers: ScoreModifiers(alibiSlopes: slopes)), seed: 36)
    var biased = alibi
    biased.problem.modifiers = .none
    let layout = BiasLayout(batchStride: 0, headStride: skv, queryStride: 0)
    biased.problem.bias = layout
    let bias = makeBias(layout, shape: shape, count: heads * skv) { _, h, _, j in
      slopes[h] * Float(j)
    }
    let kernel = try runRaw(biased, bias: bias)
    var ref = try reference(alibi)
    for h in 0..<heads {
      for i in 0..<sq { ref.lse[h * sq + i] += Double(slopes[h]) * Double(i + skv - sq) }
    }
    let r = compare(kernel, ref, problem: biased.problem)
    // |LSE| reaches slope·p ≈ 16 here, where a Float ulp is 2e-6: the bias and the shift add
    // a few ulps to the usual LSE error.
    #expect(r.isWithin(output: outputTolerance, lse: 2 * lseTolerance), "\(r)")
  }

  /// Rows the bias hides completely: O = 0, LSE = −∞ — or LSE = sink with a sink.
  @Test func fullyMaskedRowsByBias() throws {
    let shape = AttentionShape(queryHeads: 2, queryLength: 30, keyLength: 20, headDim: 8)
    for sinks in [nil, [Float(1.5), -0.5]] {
      var c = AttentionCase(
        AttentionProblem(shape: shape, modifiers: ScoreModifiers(sinks: sinks)), seed: 37)
      c.problem.bias = .shared(shape: shape)
      let bias = makeBias(.shared(shape: shape), shape: shape, count: 30 * 20) { _, _, i, _ in
        i % 3 == 0 ? -.infinity : 0
      }
      let out = try runRaw(c, bias: bias)
      for h in 0..<2 {
        for i in stride(from: 0, to: 30, by: 3) {
          let lse = out.lse[h * 30 + i]
          if let sinks {
            #expect(abs(lse - sinks[h]) <= 1e-6, "h\(h) row \(i)")
          } else {
            #expect(lse == -.infinity, "h\(h) row \(i)")
          }
          #expect((0..<8).allSatisfy { out.output[(i * 2 + h) * 8 + $0] == 0 }, "h\(h) row \(i)")
        }
      }
    }
  }

  // MARK: Errors

  @Test func biasBufferErrors() throws {
    let s = Self.shape
    var p = AttentionProblem(shape: s)
    p.bias = .dense(shape: s)
    let c = AttentionCase(p, seed: 38)
    let required = s.batch * s.queryHeads * s.queryLength * s.keyLength
    #expect(try p.validate().bias == required)
    let bias = [Float](repeating: 0, count: required)
    _ = try runRaw(c, bias: bias)
    ValidationTests.expectError(
      .bufferTooSmall(tensor: "bias", required: required, actual: required - 1),
      mentioning: ["bias"]
    ) { () throws(AttentionError) in _ = try runRaw(c, bias: bias, biasCount: required - 1) }
    // A problem with a bias layout but no bias buffer.
    ValidationTests.expectError(
      .bufferTooSmall(tensor: "bias", required: required, actual: 0), mentioning: ["bias"]
    ) { () throws(AttentionError) in _ = try runRaw(c) }
    // Broadcast layouts need only what they address.
    var shared = c
    shared.problem.bias = .shared(shape: s)
    #expect(try shared.problem.validate().bias == s.queryLength * s.keyLength)
    ValidationTests.expectError(
      .bufferTooSmall(tensor: "bias", required: 70 * 90, actual: 70 * 90 - 1),
      mentioning: ["bias"]
    ) { () throws(AttentionError) in
      _ = try runRaw(shared, bias: bias, biasCount: 70 * 90 - 1)
    }
  }

  @Test(arguments: ["batch", "head", "query"])
  func negativeBiasStride(axis: String) {
    var layout = BiasLayout.dense(shape: Self.shape)
    switch axis {
    case "batch": layout.batchStride = -1
    case "head": layout.headStride = -1
    default: layout.queryStride = -1
    }
    var p = AttentionProblem(shape: Self.shape)
    p.bias = layout
    ValidationTests.expectError(
      .negativeStride(tensor: "bias", axis: axis, value: -1), mentioning: ["bias", axis]
    ) { () throws(AttentionError) in try p.validate() }
  }

  @Test func overlappingBiasRows() {
    var p = AttentionProblem(shape: Self.shape)
    p.bias = BiasLayout(batchStride: 0, headStride: 0, queryStride: Self.shape.keyLength - 1)
    do {
      try p.validate()
      Issue.record("expected overlappingStrides")
    } catch {
      guard case .overlappingStrides(let tensor, _) = error else {
        Issue.record("expected overlappingStrides, got \(error)")
        return
      }
      #expect(tensor == "bias")
    }
  }

  /// The Float32 buffer and array APIs take no bias buffer: a problem that lays out a bias must
  /// be refused there, not computed as if it had none.
  @Test func floatAPIRefusesABias() throws {
    var p = AttentionProblem(shape: Self.shape)
    p.bias = .dense(shape: Self.shape)
    let c = AttentionCase(p, seed: 39)
    #expect(throws: AttentionError.self) {
      _ = try Attention.forward(p, q: c.q, k: c.k, v: c.v, options: AttentionOptions(threads: 1))
    }
  }
}

extension AttentionShape {
  /// A plain problem of this shape with `mask` (for comparisons that only need its shape).
  fileprivate func problemFor(_ mask: AttentionMask) -> AttentionProblem {
    AttentionProblem(shape: self, mask: mask)
  }
}
