/// Where a causal mask's diagonal sits when the query block and the keys differ in length.
public enum CausalAlignment: String, Hashable, Sendable, CaseIterable {
  /// Query `i` sees keys `j <= i + (keyLength - queryLength)`: the queries are the *last*
  /// `queryLength` positions of the sequence, as in chunked prefill and decode against a cache
  /// (FlashAttention ≥ 2.1). The default.
  case bottomRight
  /// Query `i` sees keys `j <= i` (PyTorch's `is_causal`).
  case topLeft
}

/// Which keys each query may see. Every mask here gives each query a contiguous range of visible
/// keys whose bounds never decrease with the query index; the tiled kernel relies on that to skip
/// whole tiles and to mask only the tiles that straddle a boundary.
public struct AttentionMask: Hashable, Sendable, CustomStringConvertible {
  public var isCausal: Bool
  public var alignment: CausalAlignment

  public init(causal: Bool, alignment: CausalAlignment = .bottomRight) {
    self.isCausal = causal
    self.alignment = alignment
  }

  public static let none = AttentionMask(causal: false)
  public static let causal = AttentionMask(causal: true, alignment: .bottomRight)
  public static let causalTopLeft = AttentionMask(causal: true, alignment: .topLeft)

  public var description: String {
    isCausal ? (alignment == .bottomRight ? "causal" : "causal-top-left") : "none"
  }

  /// Keys visible to query `i`, clamped to `0..<keyLength` (empty when none is visible).
  @inlinable
  public func visibleKeys(query i: Int, queryLength: Int, keyLength: Int) -> Range<Int> {
    guard isCausal else { return 0..<keyLength }
    let offset = alignment == .bottomRight ? keyLength - queryLength : 0
    let end = min(max(i + offset + 1, 0), keyLength)
    return 0..<end
  }
}
