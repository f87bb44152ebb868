import Foundation
import Tessera
import Testing

/// Sliding-window masks (left window, optional right window, causal or not, both alignments):
/// the visible-key rule against hand-written ranges and a brute-force count written here (not
/// the library's rule), then the kernel against the Double reference over lengths that are not
/// tile multiples, windows smaller and larger than a tile, and rows that see no key.
@Suite struct WindowTests {
  /// Brute force: query i sees key j when (causal ⇒ j ≤ p), p − left ≤ j, j ≤ p + right.
  static func sees(
    _ mask: AttentionMask, i: Int, j: Int, sq: Int, skv: Int
  ) -> Bool {
    let p = mask.alignment == .bottomRight ? i + skv - sq : i
    if mask.isCausal && j > p { return false }
    if let left = mask.windowLeft, j < p - left { return false }
    if !mask.isCausal, let right = mask.windowRight, j > p + right { return false }
    return true
  }

  static let masks: [AttentionMask] = [
    .slidingWindow(left: 0), .slidingWindow(left: 1), .slidingWindow(left: 17),
    .slidingWindow(left: 64), .slidingWindow(left: 100, alignment: .topLeft),
    .slidingWindow(left: 5, alignment: .topLeft),
    AttentionMask(causal: false, windowLeft: 5, windowRight: 0),
    AttentionMask(causal: false, windowLeft: 0, windowRight: 7),
    AttentionMask(causal: false, windowLeft: 30, windowRight: 70),
    AttentionMask(causal: false, windowLeft: nil, windowRight: 10),
    AttentionMask(causal: false, windowLeft: 10, windowRight: nil),
    AttentionMask(causal: false, alignment: .topLeft, windowLeft: 3, windowRight: 40),
    // A right window is ignored under causal.
    AttentionMask(causal: true, windowLeft: 9, windowRight: 50),
  ]

  @Test func visibleKeysHandWritten() {
    let w = AttentionMask.slidingWindow(left: 2)
    #expect(w.visibleKeys(query: 0, queryLength: 5, keyLength: 5) == 0..<1)
    #expect(w.visibleKeys(query: 3, queryLength: 5, keyLength: 5) == 1..<4)
    // Bottom-right, Sq = 3, Skv = 6: query 0 sits at key 3.
    #expect(w.visibleKeys(query: 0, queryLength: 3, keyLength: 6) == 1..<4)
    let tl = AttentionMask.slidingWindow(left: 2, alignment: .topLeft)
    #expect(tl.visibleKeys(query: 0, queryLength: 3, keyLength: 6) == 0..<1)
    #expect(tl.visibleKeys(query: 2, queryLength: 3, keyLength: 6) == 0..<3)
    let lr = AttentionMask(causal: false, windowLeft: 1, windowRight: 2)
    #expect(lr.visibleKeys(query: 2, queryLength: 5, keyLength: 5) == 1..<5)
    #expect(lr.visibleKeys(query: 4, queryLength: 5, keyLength: 5) == 3..<5)
    // Sq > Skv bottom-right, no left/right slack: the first rows sit before key 0.
    let diag = AttentionMask(causal: false, windowLeft: 0, windowRight: 0)
    #expect(diag.visibleKeys(query: 0, queryLength: 5, keyLength: 3).isEmpty)
    #expect(diag.visibleKeys(query: 4, queryLength: 5, keyLength: 3) == 2..<3)
    // Sq < Skv top-left with a right window of 0 but no left window: a prefix.
    let prefix = AttentionMask(causal: false, alignment: .topLeft, windowRight: 0)
    #expect(prefix.visibleKeys(query: 1, queryLength: 2, keyLength: 9) == 0..<2)
    // The window of W tokens including the query (Mistral) is windowLeft = W − 1.
    #expect(
      AttentionMask.slidingWindow(left: 3).visibleKeys(query: 9, queryLength: 10, keyLength: 10)
        .count == 4)
    #expect(AttentionMask.slidingWindow(left: 4).description.contains("window-left=4"))
    #expect(!AttentionMask.slidingWindow(left: 4).isFull)
  }

  /// `visibleKeys` and `visiblePairs` (hence `flops`) against the brute-force rule.
  @Test func visibleRangesMatchBruteForce() {
    for mask in Self.masks {
      for (sq, skv) in [(9, 9), (5, 12), (12, 5), (1, 7), (7, 1)] {
        var pairs = 0
        for i in 0..<sq {
          let expected = (0..<skv).filter { Self.sees(mask, i: i, j: $0, sq: sq, skv: skv) }
          pairs += expected.count
          let got = mask.visibleKeys(query: i, queryLength: sq, keyLength: skv)
          #expect(Array(got) == expected, "\(mask) Sq=\(sq) Skv=\(skv) row \(i)")
        }
        let shape = AttentionShape(
          batch: 2, queryHeads: 3, queryLength: sq, keyLength: skv, headDim: 4, valueDim: 6)
        let p = AttentionProblem(shape: shape, mask: mask)
        #expect(p.visiblePairs == pairs * 6, "\(mask) Sq=\(sq) Skv=\(skv)")
        #expect(p.flops == Double(pairs * 6 * (2 * 4 + 2 * 6)))
      }
    }
  }

  /// A sliding window makes prefill linear: n·(W+1) − W(W+1)/2 pairs for Sq = Skv = n.
  @Test func windowCostIsLinear() {
    let (n, w) = (1000, 63)
    let shape = AttentionShape(queryHeads: 1, queryLength: n, keyLength: n, headDim: 64)
    let p = AttentionProblem(shape: shape, mask: .slidingWindow(left: w))
    #expect(p.visiblePairs == n * (w + 1) - w * (w + 1) / 2)
  }

  @Test(arguments: [(200, 200), (65, 130), (130, 65), (1, 100), (97, 96)])
  func againstReference(lengths: (Int, Int)) throws {
    let (sq, skv) = lengths
    let shape = AttentionShape(
      queryHeads: 2, queryLength: sq, keyLength: skv, headDim: 32, valueDim: 24)
    for (index, mask) in Self.masks.enumerated() {
      for config in [TileConfig.default, TileConfig(queryTile: 24, keyTile: 16)] {
        let c = AttentionCase(AttentionProblem(shape: shape, mask: mask), seed: UInt64(index + sq))
        let r = try compareWithReference(
          c, options: AttentionOptions(threads: 2, tileConfig: config))
        #expect(r.isWithin(), "\(shape) \(mask) \(config): \(r)")
        // Rows without a visible key are O = 0, LSE = −∞ (checked by the comparison); their
        // number is what the rule says.
        let empty = (0..<sq).count {
          mask.visibleKeys(query: $0, queryLength: sq, keyLength: skv).isEmpty
        }
        #expect(r.maskedRows == empty * 2, "\(shape) \(mask)")
      }
    }
  }

  /// An independent check: windowed row i equals unmasked attention of that single query over
  /// the contiguous key slice its window allows, computed by the kernel on a cut-down problem.
  @Test(arguments: [
    AttentionMask.slidingWindow(left: 20), .slidingWindow(left: 7, alignment: .topLeft),
    AttentionMask(causal: false, windowLeft: 12, windowRight: 30),
  ])
  func rowEqualsSliceAttention(mask: AttentionMask) throws {
    let (sq, skv, d) = (70, 100, 16)
    let shape = AttentionShape(queryHeads: 1, queryLength: sq, keyLength: skv, headDim: d)
    let c = AttentionCase(AttentionProblem(shape: shape, mask: mask), seed: 43)
    let full = try runKernel(c, options: AttentionOptions(threads: 1))
    for i in [0, 1, 23, 24, 50, 69] {
      let keys = mask.visibleKeys(query: i, queryLength: sq, keyLength: skv)
      let single = AttentionShape(queryHeads: 1, queryLength: 1, keyLength: keys.count, headDim: d)
      let row = AttentionCase(
        AttentionProblem(shape: single), q: Array(c.q[i * d..<(i + 1) * d]),
        k: Array(c.k[keys.lowerBound * d..<keys.upperBound * d]),
        v: Array(c.v[keys.lowerBound * d..<keys.upperBound * d]))
      let expected = try runKernel(row, options: AttentionOptions(threads: 1))
      let got = Array(full.output[i * d..<(i + 1) * d])
      let worst = zip(got, expected.output).map { abs($0 - $1) }.max() ?? 0
      #expect(worst <= 1e-5, "\(mask) row \(i)")
      #expect(abs(full.lse[i] - expected.lse[0]) <= 1e-5, "\(mask) row \(i)")
    }
  }

  /// windowLeft = 0 under causal: each query sees only its own key, so O = V_p exactly and
  /// LSE = scale·q·k_p, computed here in Double.
  @Test func zeroWindowSeesOnlyTheDiagonal() throws {
    let (sq, skv, d) = (40, 50, 12)
    let shape = AttentionShape(queryHeads: 1, queryLength: sq, keyLength: skv, headDim: d)
    let c = AttentionCase(AttentionProblem(shape: shape, mask: .slidingWindow(left: 0)), seed: 5)
    let out = try runKernel(c)
    let scale = 1 / Double(d).squareRoot()
    for i in 0..<sq {
      let p = i + skv - sq
      #expect(Array(out.output[i * d..<(i + 1) * d]) == Array(c.v[p * d..<(p + 1) * d]))
      var dot = 0.0
      for e in 0..<d { dot += Double(c.q[i * d + e]) * Double(c.k[p * d + e]) }
      #expect(abs(Double(out.lse[i]) - dot * scale) <= lseTolerance, "row \(i)")
    }
  }

  /// A window wider than the sequence is the plain mask: bitwise equal results.
  @Test func hugeWindowEqualsNoWindow() throws {
    let shape = AttentionShape(queryHeads: 2, queryLength: 90, keyLength: 110, headDim: 16)
    let base = AttentionCase(AttentionProblem(shape: shape, mask: .causal), seed: 8)
    var wide = base
    wide.problem.mask = .slidingWindow(left: 1000)
    #expect(try runKernel(base) == runKernel(wide))
    var none = base
    none.problem.mask = .none
    var both = base
    both.problem.mask = AttentionMask(causal: false, windowLeft: 500, windowRight: 500)
    #expect(try runKernel(none) == runKernel(both))
  }
}
