/// How one tensor of an attention call is stored: its layout and element type.
public struct TensorDescriptor: Hashable, Sendable {
  public var layout: TensorLayout
  public var scalarType: ScalarType

  public init(layout: TensorLayout, scalarType: ScalarType = .float32) {
    self.layout = layout
    self.scalarType = scalarType
  }
}

/// The memory order of a contiguous tensor.
public enum LayoutOrder: String, Hashable, Sendable, CaseIterable {
  /// (batch, sequence, heads, dim): NumPy/PyTorch default for attention inputs.
  case bshd
  /// (batch, heads, sequence, dim).
  case bhsd

  public func layout(sequence: Int, heads: Int, dim: Int) -> TensorLayout {
    switch self {
    case .bshd: .bshd(sequence: sequence, heads: heads, dim: dim)
    case .bhsd: .bhsd(sequence: sequence, heads: heads, dim: dim)
    }
  }
}
