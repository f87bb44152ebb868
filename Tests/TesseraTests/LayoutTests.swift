import Tessera
import Testing

/// Layouts given by strides: BSHD, BHSD and padded custom strides all give the same numbers
/// (bitwise: each row's arithmetic does not depend on where its inputs live), the kernel never
/// writes O's padding, and the stride validation computes the right extents.
@Suite struct LayoutTests {
  static let shape = AttentionShape(
    batch: 2, queryHeads: 4, kvHeads: 2, queryLength: 37, keyLength: 70, headDim: 20, valueDim: 12)

  /// Builds the case `layouts` describes holding the same logical tensors as `dense` (BSHD).
  static func relayout(
    _ dense: AttentionCase, q ql: TensorLayout, k kl: TensorLayout, v vl: TensorLayout,
    o ol: TensorLayout
  ) -> AttentionCase {
    let s = dense.problem.shape
    var p = dense.problem
    p.query.layout = ql
    p.key.layout = kl
    p.value.layout = vl
    p.output.layout = ol
    let counts = try! p.validate()
    var rng = SplitMix64(seed: 1234)  // padding gets garbage that must be ignored
    var q = rng.floats(counts.query, amplitude: 100)
    var k = rng.floats(counts.key, amplitude: 100)
    var v = rng.floats(counts.value, amplitude: 100)
    let src = dense.problem
    for b in 0..<s.batch {
      for i in 0..<s.queryLength {
        for h in 0..<s.queryHeads {
          for d in 0..<s.headDim {
            q[ql.offset(batch: b, sequence: i, head: h) + d] = element(
              dense.q, src.query.layout, b: b, s: i, h: h, d: d)
          }
        }
      }
      for j in 0..<s.keyLength {
        for h in 0..<s.kvHeads {
          for d in 0..<s.headDim {
            k[kl.offset(batch: b, sequence: j, head: h) + d] = element(
              dense.k, src.key.layout, b: b, s: j, h: h, d: d)
          }
          for d in 0..<s.valueDim {
            v[vl.offset(batch: b, sequence: j, head: h) + d] = element(
              dense.v, src.value.layout, b: b, s: j, h: h, d: d)
          }
        }
      }
    }
    return AttentionCase(p, q: q, k: k, v: v)
  }

  enum Kind: String, CaseIterable, CustomTestStringConvertible {
    case bhsd, paddedSequence, paddedEverything, mixed
    var testDescription: String { rawValue }
  }

  static func layouts(_ kind: Kind) -> (TensorLayout, TensorLayout, TensorLayout, TensorLayout) {
    let s = shape
    switch kind {
    case .bhsd:
      let p = AttentionProblem(shape: s, order: .bhsd)
      return (p.query.layout, p.key.layout, p.value.layout, p.output.layout)
    case .paddedSequence:
      // BSHD with the sequence stride larger than heads·dim (a slice of a wider buffer, e.g.
      // Q, K, V interleaved in one projection output).
      func padded(_ heads: Int, _ dim: Int, _ seq: Int) -> TensorLayout {
        let ss = heads * dim + 5
        return TensorLayout(batchStride: seq * ss + 3, sequenceStride: ss, headStride: dim)
      }
      return (
        padded(s.queryHeads, s.headDim, s.queryLength), padded(s.kvHeads, s.headDim, s.keyLength),
        padded(s.kvHeads, s.valueDim, s.keyLength), padded(s.queryHeads, s.valueDim, s.queryLength)
      )
    case .paddedEverything:
      // BHSD with padding after every row, head and batch.
      func padded(_ heads: Int, _ dim: Int, _ seq: Int) -> TensorLayout {
        let ss = dim + 3
        let hs = seq * ss + 7
        return TensorLayout(batchStride: heads * hs + 11, sequenceStride: ss, headStride: hs)
      }
      return (
        padded(s.queryHeads, s.headDim, s.queryLength), padded(s.kvHeads, s.headDim, s.keyLength),
        padded(s.kvHeads, s.valueDim, s.keyLength), padded(s.queryHeads, s.valueDim, s.queryLength)
      )
    case .mixed:
      // Q in BHSD, K in BSHD, V in a (head, batch, seq, dim) order, O padded BSHD.
      let bhsd = AttentionProblem(shape: s, order: .bhsd)
      let v = TensorLayout(
        batchStride: s.keyLength * s.valueDim, sequenceStride: s.valueDim,
        headStride: s.batch * s.keyLength * s.valueDim)
      let o = TensorLayout(
        batchStride: s.queryLength * (s.queryHeads * s.valueDim + 1),
        sequenceStride: s.queryHeads * s.valueDim + 1, headStride: s.valueDim)
      return (bhsd.query.layout, AttentionProblem(shape: s).key.layout, v, o)
    }
  }

  @Test(arguments: Kind.allCases)
  func sameNumbersAsBSHD(kind: Kind) throws {
    for mask in [AttentionMask.none, .causal] {
      let dense = AttentionCase(AttentionProblem(shape: Self.shape, mask: mask), seed: 43)
      let (q, k, v, o) = Self.layouts(kind)
      let other = Self.relayout(dense, q: q, k: k, v: v, o: o)
      let a = try runKernel(dense)
      let b = try runKernel(other)  // also checks that O's padding is untouched
      #expect(bitwiseEqual(a.output, b.output), "\(kind) \(mask)")
      #expect(bitwiseEqual(a.lse, b.lse), "\(kind) \(mask)")
      let r = try compareWithReference(other)
      #expect(r.isWithin(), "\(kind) \(mask): \(r)")
    }
  }

  @Test func contiguousStrides() {
    #expect(
      TensorLayout.bshd(sequence: 5, heads: 3, dim: 4)
        == TensorLayout(batchStride: 60, sequenceStride: 12, headStride: 4))
    #expect(
      TensorLayout.bhsd(sequence: 5, heads: 3, dim: 4)
        == TensorLayout(batchStride: 60, sequenceStride: 4, headStride: 20))
    #expect(
      TensorLayout.bshd(sequence: 5, heads: 3, dim: 4).offset(batch: 1, sequence: 2, head: 1)
        == 60 + 24 + 4)
  }

  /// requiredCount is one past the largest addressed offset.
  @Test func requiredCounts() throws {
    let bshd = TensorLayout.bshd(sequence: 5, heads: 3, dim: 4)
    #expect(try bshd.requiredCount(tensor: "Q", batch: 2, sequence: 5, heads: 3, dim: 4) == 120)
    let padded = TensorLayout(batchStride: 100, sequenceStride: 13, headStride: 4)
    // Largest offset: 1·100 + 4·13 + 2·4 + 3 = 163.
    #expect(try padded.requiredCount(tensor: "Q", batch: 2, sequence: 5, heads: 3, dim: 4) == 164)
    // Axes of extent 1 may have any non-negative stride, including 0 (broadcast-free).
    let single = TensorLayout(batchStride: 0, sequenceStride: 4, headStride: 0)
    #expect(try single.requiredCount(tensor: "K", batch: 1, sequence: 3, heads: 1, dim: 4) == 12)
    let counts = try AttentionProblem(shape: Self.shape).validate()
    #expect(counts.query == 2 * 37 * 4 * 20)
    #expect(counts.key == 2 * 70 * 2 * 20)
    #expect(counts.value == 2 * 70 * 2 * 12)
    #expect(counts.output == 2 * 37 * 4 * 12)
    #expect(counts.lse == 2 * 4 * 37)
  }

  /// A batch stride of 0 with batch 1 and a layout whose trailing padding is not allocated
  /// (the buffer ends right after the last addressed element) both work.
  @Test func tightBuffers() throws {
    let shape = AttentionShape(queryHeads: 2, queryLength: 9, headDim: 8)
    let layout = TensorLayout(batchStride: 0, sequenceStride: 16 + 5, headStride: 8)
    let p = problem(shape, q: layout, k: layout, v: layout, o: layout)
    let counts = try p.validate()
    #expect(counts.query == 8 * 21 + 16)
    let c = AttentionCase(p, seed: 47)
    #expect(try compareWithReference(c).isWithin())
  }
}
