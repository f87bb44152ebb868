/// Where the mask's diagonal sits when the query block and the keys differ in length.
public enum CausalAlignment: String, Hashable, Sendable, CaseIterable {
  /// Query `i` sits at key position `i + (keyLength - queryLength)`: the queries are the *last*
  /// `queryLength` positions of the sequence, as in chunked prefill and decode against a cache
  /// (FlashAttention ≥ 2.1). The default.
  case bottomRight
  /// Query `i` sits at key position `i` (PyTorch's `is_causal`).
  case topLeft
}

/// Which keys each query may see: causal, sliding window (left and optionally right, as
/// FlashAttention's `window_size`), or both.
///
/// With `p = i + offset` the key position of query `i` (offset from `alignment`), query `i`
/// sees keys `j` with `p − windowLeft ≤ j ≤ p + windowRight` (causal: `windowRight = 0`), clipped
/// to `0..<keyLength`. Every mask here gives each query a contiguous range of visible keys whose
/// bounds never decrease with `i`; the tiled kernel relies on that to skip whole tiles and to
/// mask only the tiles that straddle a boundary.
public struct AttentionMask: Hashable, Sendable, CustomStringConvertible {
  public var isCausal: Bool
  public var alignment: CausalAlignment
  /// Keys visible to the left of the diagonal (`nil`: all). Mistral's sliding window of W
  /// tokens including the query itself is `windowLeft = W − 1`.
  public var windowLeft: Int?
  /// Keys visible to the right of the diagonal when not causal (`nil`: all).
  public var windowRight: Int?

  public init(
    causal: Bool, alignment: CausalAlignment = .bottomRight, windowLeft: Int? = nil,
    windowRight: Int? = nil
  ) {
    self.isCausal = causal
    self.alignment = alignment
    self.windowLeft = windowLeft
    self.windowRight = windowRight
  }

  public static let none = AttentionMask(causal: false)
  public static let causal = AttentionMask(causal: true, alignment: .bottomRight)
  public static let causalTopLeft = AttentionMask(causal: true, alignment: .topLeft)

  /// Causal with a left window of `left` keys (sliding-window attention).
  public static func slidingWindow(left: Int, alignment: CausalAlignment = .bottomRight)
    -> AttentionMask
  {
    AttentionMask(causal: true, alignment: alignment, windowLeft: left)
  }

  /// Whether every query sees every key.
  public var isFull: Bool { !isCausal && windowLeft == nil && windowRight == nil }

  public var description: String {
    var parts: [String] = []
    if isCausal { parts.append(alignment == .bottomRight ? "causal" : "causal-top-left") }
    if let windowLeft { parts.append("window-left=\(windowLeft)") }
    if let windowRight, !isCausal { parts.append("window-right=\(windowRight)") }
    if !isCausal && (windowLeft != nil || windowRight != nil) && alignment == .topLeft {
      parts.append("top-left")
    }
    return parts.isEmpty ? "none" : parts.joined(separator: " ")
  }

  /// Window sizes must be non-negative.
  public func validate() throws(AttentionError) {
    if let windowLeft, windowLeft < 0 { throw .invalidWindow(side: "left", value: windowLeft) }
    if let windowRight, windowRight < 0 {
      throw .invalidWindow(side: "right", value: windowRight)
    }
  }

  /// Key position of query `i` (the diagonal).
  @inlinable
  public func diagonal(query i: Int, queryLength: Int, keyLength: Int) -> Int {
    alignment == .bottomRight ? i + keyLength - queryLength : i
  }

  /// Keys visible to query `i`, clamped to `0..<keyLength` (empty when none is visible).
  @inlinable
  public func visibleKeys(query i: Int, queryLength: Int, keyLength: Int) -> Range<Int> {
    if isFull { return 0..<keyLength }
    let p = diagonal(query: i, queryLength: queryLength, keyLength: keyLength)
    var lower = 0
    var upper = keyLength
    if isCausal { upper = min(upper, p + 1) }
    if let windowRight, !isCausal { upper = min(upper, p + windowRight + 1) }
    if let windowLeft { lower = max(lower, p - windowLeft) }
    upper = max(upper, 0)
    lower = min(max(lower, 0), upper)
    return lower..<upper
  }
}
