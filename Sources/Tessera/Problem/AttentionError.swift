/// Everything that can be wrong with an attention call. Each case names the field and says what
/// was expected; nothing in Tessera traps on user input.
public enum AttentionError: Error, Hashable, Sendable, CustomStringConvertible {
  /// A size is zero or negative.
  case nonPositiveSize(field: String, value: Int)
  /// Query heads must be a multiple of kv heads (grouped-query attention).
  case headsNotDivisible(queryHeads: Int, kvHeads: Int)
  /// A stride is negative.
  case negativeStride(tensor: String, axis: String, value: Int)
  /// Two elements of a tensor would share an address.
  case overlappingStrides(tensor: String, detail: String)
  /// The extent of a tensor does not fit in `Int`.
  case sizeOverflow(tensor: String)
  /// A buffer holds fewer elements than its layout addresses.
  case bufferTooSmall(tensor: String, required: Int, actual: Int)
  /// A tensor's storage type is not supported by this call.
  case unsupportedScalarType(tensor: String, type: ScalarType, supported: [ScalarType])
  /// The scale is not a finite number.
  case invalidScale(Float)
  /// A dimension disagrees between two tensors.
  case shapeMismatch(tensor: String, axis: String, expected: Int, actual: Int)
  /// The thread count is not positive.
  case invalidThreadCount(Int)
  /// A sequence is longer than the kernel addresses (key positions are Int32 in the mask).
  case sequenceTooLong(length: Int, maximum: Int)
  /// The calling task was cancelled while the call waited for a worker; nothing was computed.
  case cancelled
  /// Ragged-batch offsets are malformed.
  case invalidRagged(detail: String)
  /// Two features were asked for together that this call cannot combine.
  case unsupportedCombination(String)
  /// A sliding-window size is negative.
  case invalidWindow(side: String, value: Int)
  /// A score modifier (softcap, ALiBi slopes, sinks) is malformed.
  case invalidModifier(name: String, detail: String)

  public var description: String {
    switch self {
    case .nonPositiveSize(let field, let value):
      return "\(field) must be positive, got \(value)"
    case .headsNotDivisible(let q, let kv):
      return "queryHeads (\(q)) must be a multiple of kvHeads (\(kv))"
    case .negativeStride(let tensor, let axis, let value):
      return "\(tensor): \(axis) stride must be non-negative, got \(value)"
    case .overlappingStrides(let tensor, let detail):
      return "\(tensor): strides overlap (\(detail)); every element needs its own address"
    case .sizeOverflow(let tensor):
      return "\(tensor): the addressed extent overflows Int"
    case .bufferTooSmall(let tensor, let required, let actual):
      return "\(tensor): buffer holds \(actual) elements, the layout addresses \(required)"
    case .unsupportedScalarType(let tensor, let type, let supported):
      return "\(tensor): storage type \(type) is not supported here; expected one of "
        + supported.map(\.rawValue).joined(separator: ", ")
    case .invalidScale(let scale):
      return "scale must be finite, got \(scale)"
    case .shapeMismatch(let tensor, let axis, let expected, let actual):
      return "\(tensor): \(axis) is \(actual), expected \(expected)"
    case .invalidThreadCount(let n):
      return "threads must be positive, got \(n)"
    case .sequenceTooLong(let length, let maximum):
      return "sequence length \(length) exceeds the supported maximum \(maximum)"
    case .cancelled:
      return "cancelled while waiting for a worker; nothing was computed"
    case .invalidRagged(let detail):
      return "ragged batch: \(detail)"
    case .unsupportedCombination(let detail):
      return "unsupported combination: \(detail)"
    case .invalidWindow(let side, let value):
      return "window \(side) must be non-negative, got \(value)"
    case .invalidModifier(let name, let detail):
      return "\(name): \(detail)"
    }
  }
}
