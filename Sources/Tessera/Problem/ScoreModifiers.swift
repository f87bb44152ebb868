import Foundation

/// Changes to the scores between Q·Kᵀ and the softmax, applied inside the tiled kernel:
///
///     s = scale · q·k                      (natural units)
///     s = softcap · tanh(s / softcap)      (Gemma 2, Grok: logit soft-capping)
///     s = s − slope_h · |p_i − j|          (ALiBi; p_i is the query's key position)
///     softmax over the visible keys, plus exp(sink_h) in the denominator (attention sinks,
///     gpt-oss: a learned per-head logit that takes probability mass but has no value)
///
/// With a sink the log-sum-exp includes it: LSE = log(Σ_j exp(s_j) + exp(sink_h)).
public struct ScoreModifiers: Hashable, Sendable {
  /// Logit soft-cap (> 0), or nil.
  public var softcap: Float?
  /// ALiBi slope per query head, or nil.
  public var alibiSlopes: [Float]?
  /// Sink logit per query head, or nil.
  public var sinks: [Float]?

  public init(softcap: Float? = nil, alibiSlopes: [Float]? = nil, sinks: [Float]? = nil) {
    self.softcap = softcap
    self.alibiSlopes = alibiSlopes
    self.sinks = sinks
  }

  public static let none = ScoreModifiers()

  /// The standard ALiBi slopes for `heads` heads (Press et al.: a geometric sequence starting
  /// at 2^(−8/n) for the closest power of two n, interleaved for the remaining heads).
  public static func standardAlibiSlopes(heads: Int) -> [Float] {
    func powerOfTwoSlopes(_ n: Int) -> [Float] {
      let start = Foundation.exp2(-8 / Float(n))
      return (0..<n).map { start * Foundation.exp2(-8 / Float(n) * Float($0)) }
    }
    var n = 1
    while n * 2 <= heads { n *= 2 }
    var slopes = powerOfTwoSlopes(n)
    if n < heads {
      let extra = powerOfTwoSlopes(2 * n)
      slopes += stride(from: 0, to: 2 * (heads - n), by: 2).map { extra[$0] }
    }
    return slopes
  }

  public var isEmpty: Bool { softcap == nil && alibiSlopes == nil && sinks == nil }

  /// Whether the kernel must touch every score (softcap, ALiBi); sinks only change the end.
  var changesScores: Bool { softcap != nil || alibiSlopes != nil }

  public func validate(queryHeads: Int) throws(AttentionError) {
    if let softcap, !(softcap.isFinite && softcap > 0) {
      throw .invalidModifier(name: "softcap", detail: "must be finite and positive, got \(softcap)")
    }
    for (name, values) in [("alibiSlopes", alibiSlopes), ("sinks", sinks)] {
      guard let values else { continue }
      if values.count != queryHeads {
        throw .invalidModifier(
          name: name, detail: "needs one value per query head (\(queryHeads)), got \(values.count)")
      }
      if let bad = values.firstIndex(where: { !$0.isFinite }) {
        throw .invalidModifier(
          name: name, detail: "value \(bad) is \(values[bad]), expected finite")
      }
    }
  }
}
