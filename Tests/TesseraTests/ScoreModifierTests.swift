import Foundation
import Tessera
import Testing

/// Softcap, ALiBi and attention sinks: against the Double reference (which applies them in the
/// documented order: scale, softcap, ALiBi, sink in the denominator), plus checks that do not
/// go through the reference: ALiBi with Q = 0 is a softmax of −slope·|p − j| computed here; a
/// sink rescales the sink-free result by exp(LSE − LSE_sink); rows without a key but with a
/// sink give O = 0 and LSE = sink exactly.
@Suite struct ScoreModifierTests {
  // MARK: Slopes

  @Test func standardAlibiSlopes() {
    // Powers of two: 2^(−8/n), 2^(−16/n), …, 2⁻⁸.
    #expect(
      ScoreModifiers.standardAlibiSlopes(heads: 8) == (1...8).map { Float(0x1p0) / Float(1 << $0) })
    #expect(ScoreModifiers.standardAlibiSlopes(heads: 4) == [0x1p-2, 0x1p-4, 0x1p-6, 0x1p-8])
    #expect(ScoreModifiers.standardAlibiSlopes(heads: 1) == [0x1p-8])
    // 12 heads (Press et al.'s reference code): the 8 slopes of n = 8, then the even-indexed
    // slopes of n = 16: 2^−0.5, 2^−1.5, 2^−2.5, 2^−3.5.
    let twelve = ScoreModifiers.standardAlibiSlopes(heads: 12)
    #expect(twelve.count == 12)
    #expect(Array(twelve.prefix(8)) == ScoreModifiers.standardAlibiSlopes(heads: 8))
    for (got, e) in zip(twelve.suffix(4), [-0.5, -1.5, -2.5, -3.5]) {
      #expect(abs(Double(got) - Foundation.pow(2, e)) <= 1e-7)
    }
    #expect(ScoreModifiers.standardAlibiSlopes(heads: 6).count == 6)
  }

  // MARK: Against the reference

  static let lengths = [(100, 100), (61, 150), (150, 61), (1, 77)]

  @Test(arguments: [Float(1), 5, 30])
  func softcap(cap: Float) throws {
    for (sq, skv) in Self.lengths {
      for mask in [AttentionMask.none, .causal, .causalTopLeft] {
        let shape = AttentionShape(
          queryHeads: 2, queryLength: sq, keyLength: skv, headDim: 32, valueDim: 20)
        let p = AttentionProblem(shape: shape, mask: mask, modifiers: ScoreModifiers(softcap: cap))
        // Amplitude 3: logits up to ≈ 9·√32 ≈ 50, so the cap bends most of them.
        let c = AttentionCase(p, seed: UInt64(sq * 3 + skv), amplitude: 3)
        let r = try compareWithReference(c)
        #expect(r.isWithin(), "\(p): \(r)")
      }
    }
  }

  /// The cap matters: with large logits, capped and uncapped results differ by far more than
  /// the tolerance, so the softcap test above cannot pass with the cap ignored.
  @Test func softcapChangesTheResult() throws {
    let shape = AttentionShape(queryHeads: 1, queryLength: 40, keyLength: 40, headDim: 32)
    let c = AttentionCase(AttentionProblem(shape: shape), seed: 2, amplitude: 3)
    var capped = c
    capped.problem.modifiers.softcap = 5
    let plain = try runKernel(c)
    let a = try runKernel(capped)
    let moved = zip(plain.lse, a.lse).map { abs($0 - $1) }.max() ?? 0
    #expect(moved > 0.1)
  }

  /// Realistic caps (Gemma 2 uses 50 on attention logits) meet the Float32 tolerance with
  /// ordinary logits, where most scores sit far below the cap.
  @Test(arguments: [Float(50), 100])
  func largeRealisticCaps(cap: Float) throws {
    let shape = AttentionShape(queryHeads: 2, queryLength: 100, keyLength: 100, headDim: 32)
    let c = AttentionCase(
      AttentionProblem(shape: shape, mask: .causal, modifiers: ScoreModifiers(softcap: cap)),
      seed: 2)
    let r = try compareWithReference(c)
    #expect(r.isWithin(), "cap \(cap): \(r)")
  }

  /// A cap far above every logit is (almost) the identity, so the result must stay within the
  /// Float32 tolerance of the reference. The kernel's tanh, (1 − e^(−2|x|))/(1 + e^(−2|x|)),
  /// cancels for small |x| = |s|/cap: its absolute error ≈ 1e-7 is multiplied back by the cap,
  /// so the score error grows like cap·1e-7·log2 e. Measured (Sq = Skv = 100, D = 32, causal):
  /// max |ΔO| 9e-7 at cap 100, 9e-6 at 1000, 6e-5 at 1e4, 0.1 at 1e7.
  @Test func capFarAboveTheLogits() throws {
    let shape = AttentionShape(queryHeads: 2, queryLength: 100, keyLength: 100, headDim: 32)
    let c = AttentionCase(
      AttentionProblem(shape: shape, mask: .causal, modifiers: ScoreModifiers(softcap: 1e4)),
      seed: 2)
    let r = try compareWithReference(c)
    #expect(r.isWithin(), "cap 1e4: \(r)")
  }

  @Test(arguments: [AttentionMask.none, .causal, .causalTopLeft, .slidingWindow(left: 20)])
  func alibi(mask: AttentionMask) throws {
    for (sq, skv) in Self.lengths {
      let shape = AttentionShape(
        queryHeads: 6, kvHeads: 3, queryLength: sq, keyLength: skv, headDim: 24)
      let p = AttentionProblem(
        shape: shape, mask: mask,
        modifiers: ScoreModifiers(alibiSlopes: ScoreModifiers.standardAlibiSlopes(heads: 6)))
      let c = AttentionCase(p, seed: UInt64(sq + 7 * skv))
      let r = try compareWithReference(c)
      #expect(r.isWithin(), "\(p): \(r)")
    }
  }

  /// Q = 0 leaves only the ALiBi term: O_i = Σ_j softmax_j(−slope·|p_i − j|)·V_j, computed here
  /// in Double without the reference (positions from each alignment's rule).
  @Test(arguments: [AttentionMask.none, .causalTopLeft, .causal])
  func alibiWithZeroQueries(mask: AttentionMask) throws {
    let (sq, skv, d) = (30, 45, 8)
    let slopes: [Float] = [0.5, 0.0625]
    let shape = AttentionShape(queryHeads: 2, queryLength: sq, keyLength: skv, headDim: d)
    var c = AttentionCase(
      AttentionProblem(shape: shape, mask: mask, modifiers: ScoreModifiers(alibiSlopes: slopes)),
      seed: 3)
    c.q = [Float](repeating: 0, count: c.q.count)
    let out = try runKernel(c)
    var worstO = 0.0
    var worstL = 0.0
    for h in 0..<2 {
      for i in 0..<sq {
        let p = mask.alignment == .bottomRight ? i + skv - sq : i
        let keys = mask.isCausal ? 0..<min(skv, p + 1) : 0..<skv
        let logits = keys.map { -Double(slopes[h]) * Double(abs(p - $0)) }
        let m = logits.max()!
        let sum = logits.reduce(0) { $0 + Foundation.exp($1 - m) }
        for e in 0..<d {
          var o = 0.0
          for (n, j) in keys.enumerated() {
            o += Foundation.exp(logits[n] - m) / sum * Double(c.v[(j * 2 + h) * d + e])
          }
          worstO = max(worstO, abs(Double(out.output[(i * 2 + h) * d + e]) - o))
        }
        worstL = max(worstL, abs(Double(out.lse[h * sq + i]) - (m + Foundation.log(sum))))
      }
    }
    #expect(worstO <= outputTolerance)
    #expect(worstL <= lseTolerance)
  }

  @Test(arguments: [AttentionMask.none, .causal, .causalTopLeft])
  func sinks(mask: AttentionMask) throws {
    for (sq, skv) in Self.lengths {
      let shape = AttentionShape(
        queryHeads: 4, kvHeads: 2, queryLength: sq, keyLength: skv, headDim: 20)
      let p = AttentionProblem(
        shape: shape, mask: mask, modifiers: ScoreModifiers(sinks: [-1, 0, 2.5, 8]))
      let c = AttentionCase(p, seed: UInt64(sq ^ skv))
      let r = try compareWithReference(c)
      // Rows with no key but a sink are not masked rows: LSE = sink, finite.
      #expect(r.isWithin() && r.maskedRows == 0, "\(p): \(r)")
    }
  }

  /// Independent of the reference: with a sink s, LSE' = log(e^LSE + e^s) and O' = O·e^(LSE − LSE')
  /// where O, LSE are the sink-free results of the same kernel.
  @Test func sinkRescalesTheSinkFreeResult() throws {
    let (sq, skv, d, heads) = (50, 70, 16, 3)
    let sinks: [Float] = [-3, 1, 6]
    let shape = AttentionShape(queryHeads: heads, queryLength: sq, keyLength: skv, headDim: d)
    let plain = AttentionCase(AttentionProblem(shape: shape, mask: .causal), seed: 12)
    var sunk = plain
    sunk.problem.modifiers.sinks = sinks
    let a = try runKernel(plain)
    let b = try runKernel(sunk)
    for h in 0..<heads {
      for i in 0..<sq {
        let lse = Double(a.lse[h * sq + i])
        let s = Double(sinks[h])
        let m = max(lse, s)
        let expected = m + Foundation.log(Foundation.exp(lse - m) + Foundation.exp(s - m))
        #expect(abs(Double(b.lse[h * sq + i]) - expected) <= lseTolerance, "h\(h) row \(i)")
        let factor = Foundation.exp(lse - expected)
        for e in 0..<d {
          let index = (i * heads + h) * d + e
          #expect(
            abs(Double(b.output[index]) - Double(a.output[index]) * factor) <= outputTolerance,
            "h\(h) row \(i) dim \(e)")
        }
      }
    }
  }

  /// Rows that see no key (bottom-right, Sq > Skv; a zero-width window) but have a sink: O = 0
  /// exactly and LSE = sink (the sink is the whole denominator), with softcap and ALiBi too.
  @Test(arguments: [false, true])
  func sinkOnRowsWithoutKeys(withModifiers: Bool) throws {
    let (sq, skv, d) = (60, 25, 12)
    let sinks: [Float] = [-2, 0.75]
    let shape = AttentionShape(queryHeads: 2, queryLength: sq, keyLength: skv, headDim: d)
    for mask in [AttentionMask.causal, AttentionMask(causal: false, windowLeft: 0, windowRight: 0)]
    {
      let modifiers = ScoreModifiers(
        softcap: withModifiers ? 4 : nil, alibiSlopes: withModifiers ? [0.25, 0.5] : nil,
        sinks: sinks)
      let c = AttentionCase(
        AttentionProblem(shape: shape, mask: mask, modifiers: modifiers), seed: 4)
      let out = try runKernel(
        c, options: AttentionOptions(threads: 2, tileConfig: TileConfig(queryTile: 24, keyTile: 8)))
      let empty = sq - skv  // rows 0..<35 sit before key 0
      for h in 0..<2 {
        for i in 0..<sq {
          let lse = out.lse[h * sq + i]
          let row = (0..<d).map { out.output[(i * 2 + h) * d + $0] }
          if i < empty {
            #expect(abs(lse - sinks[h]) <= 1e-6, "\(mask) h\(h) row \(i): LSE \(lse)")
            #expect(row.allSatisfy { $0 == 0 }, "\(mask) h\(h) row \(i)")
          } else {
            #expect(lse.isFinite && lse > sinks[h], "\(mask) h\(h) row \(i)")
          }
        }
      }
      let r = try compareWithReference(c)
      #expect(r.isWithin() && r.maskedRows == 0, "\(mask): \(r)")
    }
  }

  /// All three modifiers together, with GQA and odd sizes, both alignments.
  @Test(arguments: [AttentionMask.causal, .causalTopLeft, .none])
  func allModifiersTogether(mask: AttentionMask) throws {
    for (sq, skv) in Self.lengths {
      let shape = AttentionShape(
        batch: 2, queryHeads: 4, kvHeads: 1, queryLength: sq, keyLength: skv, headDim: 36,
        valueDim: 28)
      let modifiers = ScoreModifiers(
        softcap: 6, alibiSlopes: ScoreModifiers.standardAlibiSlopes(heads: 4), sinks: [3, -1, 0, 1])
      let c = AttentionCase(
        AttentionProblem(shape: shape, mask: mask, modifiers: modifiers), seed: 21, amplitude: 2)
      let r = try compareWithReference(c)
      #expect(r.isWithin(), "\(c.problem): \(r)")
    }
  }
}
