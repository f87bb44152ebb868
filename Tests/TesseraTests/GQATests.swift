import Tessera
import Testing

/// Grouped-query attention: query head h reads kv head h / (Hq / Hkv). Checked against the
/// reference and, independently, against multi-head attention on K/V repeated per query head.
@Suite struct GQATests {
  /// Ratios 1 (multi-head), 2, 4, 8, and multi-query (one kv head for all 8 query heads).
  @Test(arguments: [(8, 8), (8, 4), (8, 2), (8, 1), (16, 2), (3, 1)])
  func againstReference(heads: (Int, Int)) throws {
    for mask in [AttentionMask.none, .causal] {
      let shape = AttentionShape(
        queryHeads: heads.0, kvHeads: heads.1, queryLength: 33, keyLength: 70, headDim: 32)
      let c = AttentionCase(AttentionProblem(shape: shape, mask: mask), seed: UInt64(heads.1))
      let r = try compareWithReference(c)
      #expect(r.isWithin(), "\(shape) \(mask): \(r)")
      #expect(shape.groupSize == heads.0 / heads.1)
    }
  }

  @Test func kvHeadMapping() {
    let shape = AttentionShape(queryHeads: 8, kvHeads: 2, queryLength: 1, headDim: 1)
    #expect((0..<8).map { shape.kvHead(forQueryHead: $0) } == [0, 0, 0, 0, 1, 1, 1, 1])
  }

  /// GQA with ratio g equals MHA whose K and V copy kv head h/g into query head h: bitwise,
  /// because every row performs the same arithmetic on the same values.
  @Test(arguments: [2, 4, 8])
  func equalsMultiHeadOnRepeatedKV(ratio: Int) throws {
    let (hq, sq, skv, d, dv) = (8, 29, 41, 24, 12)
    let hkv = hq / ratio
    let gqa = AttentionShape(
      batch: 2, queryHeads: hq, kvHeads: hkv, queryLength: sq, keyLength: skv, headDim: d,
      valueDim: dv)
    let c = AttentionCase(AttentionProblem(shape: gqa, mask: .causal), seed: UInt64(ratio))
    let mha = AttentionShape(
      batch: 2, queryHeads: hq, queryLength: sq, keyLength: skv, headDim: d, valueDim: dv)
    func repeatHeads(_ x: [Float], dim: Int) -> [Float] {
      var out = [Float]()
      for b in 0..<2 {
        for s in 0..<skv {
          for h in 0..<hq {
            let base = ((b * skv + s) * hkv + h / ratio) * dim
            out += x[base..<base + dim]
          }
        }
      }
      return out
    }
    let m = AttentionCase(
      AttentionProblem(shape: mha, mask: .causal), q: c.q, k: repeatHeads(c.k, dim: d),
      v: repeatHeads(c.v, dim: dv))
    let a = try runKernel(c)
    let b = try runKernel(m)
    #expect(bitwiseEqual(a.output, b.output))
    #expect(bitwiseEqual(a.lse, b.lse))
  }
}
