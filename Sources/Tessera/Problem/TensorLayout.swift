/// Element strides of a 4-D attention tensor indexed (batch, sequence, head, dim).
///
/// The last axis (dim) is always contiguous (stride 1): the micro-kernels read a head vector as
/// consecutive elements. Any order of the other three axes works, so BSHD (the PyTorch/NumPy
/// `(batch, seq, heads, dim)` default) and BHSD are both plain layouts.
public struct TensorLayout: Hashable, Sendable, CustomStringConvertible {
  public var batchStride: Int
  public var sequenceStride: Int
  public var headStride: Int

  public init(batchStride: Int, sequenceStride: Int, headStride: Int) {
    self.batchStride = batchStride
    self.sequenceStride = sequenceStride
    self.headStride = headStride
  }

  /// Contiguous (batch, sequence, heads, dim).
  public static func bshd(sequence: Int, heads: Int, dim: Int) -> TensorLayout {
    TensorLayout(
      batchStride: saturatingProduct(sequence, heads, dim),
      sequenceStride: saturatingProduct(heads, dim),
      headStride: dim)
  }

  /// Contiguous (batch, heads, sequence, dim).
  public static func bhsd(sequence: Int, heads: Int, dim: Int) -> TensorLayout {
    TensorLayout(
      batchStride: saturatingProduct(sequence, heads, dim), sequenceStride: dim,
      headStride: saturatingProduct(sequence, dim))
  }

  /// The product, or `Int.max` when it overflows: a layout built from absurd sizes must not
  /// trap; `requiredCount` then reports `.sizeOverflow` for it.
  static func saturatingProduct(_ factors: Int...) -> Int {
    var product = 1
    for f in factors {
      let (p, overflow) = product.multipliedReportingOverflow(by: f)
      if overflow { return Int.max }
      product = p
    }
    return product
  }

  public var description: String {
    "strides(b: \(batchStride), s: \(sequenceStride), h: \(headStride), d: 1)"
  }

  /// Element offset of (b, s, h, 0).
  @inlinable
  public func offset(batch b: Int, sequence s: Int, head h: Int) -> Int {
    b &* batchStride &+ s &* sequenceStride &+ h &* headStride
  }

  /// Checks the strides for a tensor of the given extents and returns how many elements a buffer
  /// must hold (one past the largest addressed offset).
  ///
  /// Non-overlap test: sort the axes with extent > 1 by stride; each stride must be at least the
  /// span (largest offset + 1) of all smaller-strided axes together. That is exact for the
  /// layouts people build (any permutation of a contiguous or padded array) and never accepts an
  /// aliasing layout.
  public func requiredCount(
    tensor: String, batch: Int, sequence: Int, heads: Int, dim: Int
  ) throws(AttentionError) -> Int {
    let axes: [(name: String, stride: Int, extent: Int)] = [
      ("batch", batchStride, batch), ("sequence", sequenceStride, sequence),
      ("head", headStride, heads),
    ]
    for axis in axes where axis.stride < 0 {
      throw .negativeStride(tensor: tensor, axis: axis.name, value: axis.stride)
    }
    var span = dim  // the dim axis: stride 1, extent dim
    var spanOwners = "dim"
    for axis in axes.filter({ $0.extent > 1 }).sorted(by: { $0.stride < $1.stride }) {
      if axis.stride < span {
        throw .overlappingStrides(
          tensor: tensor,
          detail: "\(axis.name) stride \(axis.stride) < \(span), the span of \(spanOwners)")
      }
      let (reach, o1) = (axis.extent - 1).multipliedReportingOverflow(by: axis.stride)
      let (next, o2) = span.addingReportingOverflow(reach)
      if o1 || o2 { throw .sizeOverflow(tensor: tensor) }
      span = next
      spanOwners += "+\(axis.name)"
    }
    return span
  }
}
