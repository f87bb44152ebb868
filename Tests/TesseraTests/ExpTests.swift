import Foundation
import Tessera
import Testing

/// The kernel's vectorized 2^x (`tesseraExp2` runs the same vector code on one lane) against
/// `Foundation.exp2` in Double over the range softmax uses: x = S − m ≤ 0, and anything below
/// −126 (the smallest normal exponent) flushes to 0 — a probability under 2⁻¹²⁶ ≈ 1e-38 of
/// the row maximum cannot change a Float32 sum.
@Suite struct ExpTests {
  /// Max relative error over a dense grid of [−126, 0] (2²¹ + 1 points, spacing ≈ 6e-5, plus the
  /// 64 floats either side of every half-integer, where the rounding n = round(x) switches and
  /// the polynomial is evaluated at its ends f = ±½).
  ///
  /// Measured: 7.86e-8 at x = −4.4996 with `-Xcc -march=native` (FMA), 1.00e-7 at x = −6.4983
  /// without (separate multiply and add) — the degree-6 polynomial's own error on [−½, ½] plus
  /// Float rounding (u = 2⁻²⁴ ≈ 6e-8 per operation). Asserted: 1.5e-7 (2.5 u), tight enough to
  /// catch a 1e-6 change in one polynomial coefficient (which gives ≈ 2e-7).
  @Test func maxRelativeErrorOverSoftmaxRange() {
    var worst = 0.0
    var worstX: Float = 0
    func check(_ x: Float) {
      let got = Double(tesseraExp2(x))
      let want = Foundation.exp2(Double(x))
      let rel = abs(got - want) / want
      if rel > worst || rel.isNaN {
        worst = rel.isNaN ? .infinity : rel
        worstX = x
      }
    }
    let n = 1 << 21
    for i in 0...n {
      check(-126 * Float(i) / Float(n))
    }
    for k in 0..<126 {
      let x = -Float(k) - 0.5  // −0.5, −1.5, …, −125.5
      var lo = x
      var hi = x
      for _ in 0..<64 {
        lo = lo.nextDown
        hi = hi.nextUp
        check(lo)
        check(hi)
      }
      check(x)
    }
    print("tesseraExp2: max relative error over [-126, 0] = \(worst) at x = \(worstX)")
    #expect(worst <= 1.5e-7, "max relative error \(worst) at x = \(worstX)")
  }

  /// Random points, including tiny magnitudes where 2^x ≈ 1 + x·ln 2.
  @Test func randomPoints() {
    var rng = SplitMix64(seed: 2024)
    var worst = 0.0
    for i in 0..<200_000 {
      let u = Float(rng.next() >> 40) / Float(1 << 24)  // [0, 1)
      let x = i % 2 == 0 ? -126 * u : -u * 1e-3
      let want = Foundation.exp2(Double(x))
      worst = max(worst, abs(Double(tesseraExp2(x)) - want) / want)
    }
    #expect(worst <= 1.5e-7)
  }

  @Test func exactPoints() {
    #expect(tesseraExp2(0) == 1)
    #expect(tesseraExp2(-0.0) == 1)
    // Integers are exact: the polynomial is 1 at f = 0 and 2^n is built in the exponent.
    for n in 0...126 {
      #expect(tesseraExp2(-Float(n)) == Float(sign: .plus, exponent: -n, significand: 1), "2^-\(n)")
    }
    #expect(tesseraExp2(-1) == 0.5)
  }

  /// −∞ (a masked score) and anything below −126 give exactly 0, never NaN or a denormal.
  @Test(arguments: [
    -Float.infinity, -126.000_01, -126.5, -127, -149, -150, -1e4, -1e30,
    -Float.greatestFiniteMagnitude,
  ])
  func underflowIsZero(x: Float) {
    #expect(tesseraExp2(x) == 0)
    #expect(tesseraExp2(x).sign == .plus)
  }

  /// −126 itself is the smallest normal, not 0; everything in [−126, 0] is a positive normal.
  @Test func smallestNormal() {
    #expect(tesseraExp2(-126) == .leastNormalMagnitude)
    #expect(tesseraExp2((-126 as Float).nextUp).isNormal)
    #expect(tesseraExp2(-125.5).isNormal)
  }

  /// Non-decreasing over a dense grid (2²⁰ + 1 points, spacing 1.2e-4) and across every
  /// rounding switch x = k + ½ (where the polynomial jumps from f = −½ to f = +½), stepping
  /// 16 ulps of x there: softmax must not rank a smaller score above a larger one.
  ///
  /// At single-ulp resolution the polynomial is *not* monotonic: where 2^x changes by less
  /// than one output ulp per input ulp (|x| < 1: 1 input ulp ≈ 0.25 output ulp), Horner's
  /// rounding makes 1-ulp wiggles — measured on 1.2 % of consecutive floats in [−0.5, −0.35],
  /// including across −0.5 itself. `atUlpScaleNeverDropsMoreThanOneUlp` pins that bound.
  @Test func monotonic() {
    var previous: Float = 0
    var previousX: Float = -126
    var violations = 0
    let n = 1 << 20
    for i in 0...n {
      let x = -126 + 126 * Float(i) / Float(n)
      let y = tesseraExp2(x)
      if y < previous {
        violations += 1
        if violations < 5 { Issue.record("exp2(\(x)) = \(y) < exp2(\(previousX)) = \(previous)") }
      }
      previous = y
      previousX = x
    }
    for k in 0..<126 {
      let center = -Float(k) - 0.5
      var x = center
      for _ in 0..<(64 * 16) { x = x.nextDown }
      var p = tesseraExp2(x)
      for _ in 0..<128 {
        for _ in 0..<16 { x = x.nextUp }
        let y = tesseraExp2(x)
        if y < p {
          violations += 1
          if violations < 5 { Issue.record("exp2 decreases at \(x): \(y) < \(p)") }
        }
        p = y
      }
    }
    #expect(violations == 0)
  }

  /// Every consecutive pair of floats in [−1, 0] (and around each rounding switch): 2^x may
  /// wiggle by one ulp (see `monotonic`), never more.
  @Test func atUlpScaleNeverDropsMoreThanOneUlp() {
    var worstDrop: UInt32 = 0
    func scan(from start: Float, steps: Int) {
      var x = start
      var p = tesseraExp2(x)
      for _ in 0..<steps {
        x = x.nextUp
        let y = tesseraExp2(x)
        if y < p { worstDrop = max(worstDrop, p.bitPattern - y.bitPattern) }
        p = y
      }
    }
    scan(from: -1, steps: 4_000_000)  // [−1, −0.94]: n = −1, f near −0.5
    scan(from: -0.5 - 0x1p-10, steps: 4_000_000)  // across the switch at −0.5
    for k in 1..<126 {
      var x = -Float(k) - 0.5
      for _ in 0..<500 { x = x.nextDown }
      scan(from: x, steps: 1000)
    }
    #expect(worstDrop <= 1)
  }

  /// Never above 1 for x ≤ 0 (a probability relative to the row max).
  @Test func neverAboveOne() {
    var x: Float = -0.0
    for _ in 0..<10_000 {
      x = x.nextDown
      #expect(tesseraExp2(x) <= 1)
    }
    #expect(tesseraExp2(-1e-30) <= 1)
  }
}
