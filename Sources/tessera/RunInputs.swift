import Tessera

/// The three input files of `tessera run`, checked against each other.
///
/// Layout (batch, seq, heads, dim), as PyTorch and NumPy code hold attention inputs; the
/// kv heads come from K's shape (GQA when fewer than Q's heads).
struct RunInputs {
  struct Tensor {
    var name: String
    var path: String
    var array: NPYArray
  }

  var q: Tensor
  var k: Tensor
  var v: Tensor

  /// The attention shape the three arrays describe, or the first inconsistency found, named by
  /// file and axis.
  func shape() throws(CLIError) -> AttentionShape {
    for t in [q, k, v] {
      let shape = NPYArray.format(shape: t.array.shape)
      guard t.array.shape.count == 4 else {
        throw CLIError(
          "\(t.name) (\(t.path)) has shape \(shape); expected 4 dimensions (batch, seq, heads, dim)"
        )
      }
      if t.array.shape.contains(where: { $0 <= 0 }) {
        throw CLIError("\(t.name) (\(t.path)) has shape \(shape); every dimension must be positive")
      }
    }
    let (qs, ks, vs) = (q.array.shape, k.array.shape, v.array.shape)
    func mismatch(_ what: String, _ a: Tensor, _ x: Int, _ b: Tensor, _ y: Int) -> CLIError {
      CLIError(
        "\(what) differs: \(a.name) (\(a.path)) has \(x), \(b.name) (\(b.path)) has \(y);"
          + " expected equal")
    }
    if ks[0] != qs[0] { throw mismatch("batch (axis 0)", q, qs[0], k, ks[0]) }
    if vs[0] != qs[0] { throw mismatch("batch (axis 0)", q, qs[0], v, vs[0]) }
    if vs[1] != ks[1] { throw mismatch("key length (axis 1)", k, ks[1], v, vs[1]) }
    if vs[2] != ks[2] { throw mismatch("kv heads (axis 2)", k, ks[2], v, vs[2]) }
    if ks[3] != qs[3] { throw mismatch("head dim (axis 3)", q, qs[3], k, ks[3]) }
    if qs[2] % ks[2] != 0 {
      throw CLIError(
        "Q has \(qs[2]) heads and K has \(ks[2]); expected Q's heads to be a multiple of K's"
          + " (grouped-query attention)")
    }
    return AttentionShape(
      batch: qs[0], queryHeads: qs[2], kvHeads: ks[2], queryLength: qs[1], keyLength: ks[1],
      headDim: qs[3], valueDim: vs[3])
  }
}
