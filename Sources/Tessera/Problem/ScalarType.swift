/// Storage type of a tensor. Compute is always Float32; narrower storage is converted on load.
public enum ScalarType: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
  case float32
  case float16
  case bfloat16

  public var byteCount: Int {
    switch self {
    case .float32: 4
    case .float16, .bfloat16: 2
    }
  }

  public var description: String { rawValue }
}
