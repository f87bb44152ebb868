/// Everything that can be wrong with a layer call or its weights. Each case says what was
/// found and what was expected.
public enum LayerError: Error, Hashable, Sendable, CustomStringConvertible {
  /// A configuration size is not positive or the head counts do not divide.
  case invalidConfiguration(String)
  /// A weight is absent from the file or dictionary.
  case missingWeight(name: String)
  /// A weight's shape differs from what the configuration implies.
  case weightShape(name: String, expected: [Int], actual: [Int])
  /// An input's element count is not a whole number of rows of `rowLength`.
  case inputSize(name: String, count: Int, rowLength: Int)
  /// The attention core rejected the call.
  case attention(AttentionError)
  /// A projection's GEMM rejected the call.
  case gemm(GemmError)
  /// A `.safetensors` file is malformed.
  case safetensors(SafetensorsError)
  /// A `.npy` file is malformed.
  case npy(name: String, NPYError)

  public var description: String {
    switch self {
    case .invalidConfiguration(let detail):
      return "invalid layer configuration: \(detail)"
    case .missingWeight(let name):
      return "weight '\(name)' is missing"
    case .weightShape(let name, let expected, let actual):
      return "weight '\(name)' has shape \(actual), expected \(expected)"
    case .inputSize(let name, let count, let rowLength):
      return "\(name) holds \(count) elements, expected a positive multiple of \(rowLength)"
        + " (rows of the embedding dimension)"
    case .attention(let error):
      return "attention: \(error)"
    case .gemm(let error):
      return "projection: \(error)"
    case .safetensors(let error):
      return "\(error)"
    case .npy(let name, let error):
      return "\(name): \(error)"
    }
  }
}
