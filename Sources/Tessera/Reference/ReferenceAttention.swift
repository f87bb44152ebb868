import Foundation

/// Naive attention in Double: the oracle for tests and `tessera verify`, not a product path.
/// It materializes one row of scores at a time (O(Skv) memory) and is O(Sq·Skv·D) per head.
public enum ReferenceAttention {
  /// The result of a reference call: O in contiguous (batch, queryLength, queryHeads, valueDim)
  /// order and LSE in (batch, queryHeads, queryLength) order. Fully masked rows give O = 0 and
  /// LSE = −∞.
  public struct Result: Sendable {
    public var output: [Double]
    public var lse: [Double]
  }

  /// Computes attention for Float32 inputs laid out as `problem` says.
  public static func compute(
    _ problem: AttentionProblem, q: UnsafeBufferPointer<Float>, k: UnsafeBufferPointer<Float>,
    v: UnsafeBufferPointer<Float>
  ) throws(AttentionError) -> Result {
    let counts = try problem.validate()
    try Attention.check(buffer: q.count, required: counts.query, tensor: "Q")
    try Attention.check(buffer: k.count, required: counts.key, tensor: "K")
    try Attention.check(buffer: v.count, required: counts.value, tensor: "V")
    let s = problem.shape
    let scale = Double(problem.effectiveScale)
    var output = [Double](repeating: 0, count: s.batch * s.queryLength * s.queryHeads * s.valueDim)
    var lse = [Double](repeating: -.infinity, count: s.batch * s.queryHeads * s.queryLength)
    var scores = [Double](repeating: 0, count: s.keyLength)
    // (batch index, first query row, query count, first key row, key count) of each sequence:
    // the batch entries, or the packed sequences of a ragged call.
    let spans: [(b: Int, q0: Int, sq: Int, k0: Int, sk: Int)] =
      problem.ragged.map { r in
        (0..<r.sequences).map {
          (
            0, r.queryOffsets[$0], r.queryOffsets[$0 + 1] - r.queryOffsets[$0], r.keyOffsets[$0],
            r.keyOffsets[$0 + 1] - r.keyOffsets[$0]
          )
        }
      } ?? (0..<s.batch).map { ($0, 0, s.queryLength, 0, s.keyLength) }
    for span in spans {
      let b = span.b
      for h in 0..<s.queryHeads {
        let kvh = s.kvHead(forQueryHead: h)
        let sink = problem.modifiers.sinks.map { Double($0[h]) }
        let slope = problem.modifiers.alibiSlopes.map { Double($0[h]) }
        let cap = problem.modifiers.softcap.map { Double($0) }
        for local in 0..<span.sq {
          let i = span.q0 + local
          // Key positions local to the sequence; rows in the tensors are k0 + j.
          let keys = problem.mask.visibleKeys(
            query: local, queryLength: span.sq, keyLength: span.sk
          ).filter { j in
            guard let sparse = problem.blockSparse else { return true }
            let bs = sparse.blockSize
            return sparse.isKept(head: h, queryBlock: local / bs, keyBlock: j / bs)
          }
          let position = Double(
            problem.mask.diagonal(query: local, queryLength: span.sq, keyLength: span.sk))
          let qBase = problem.query.layout.offset(batch: b, sequence: i, head: h)
          var rowMax = sink ?? -Double.infinity
          for j in keys {
            let kBase = problem.key.layout.offset(batch: b, sequence: span.k0 + j, head: kvh)
            var dot = 0.0
            for d in 0..<s.headDim { dot += Double(q[qBase + d]) * Double(k[kBase + d]) }
            var score = dot * scale
            if let cap { score = cap * Foundation.tanh(score / cap) }
            if let slope { score -= slope * abs(position - Double(j)) }
            scores[j] = score
            rowMax = max(rowMax, score)
          }
          if rowMax == -.infinity { continue }  // no visible key and no sink
          var sum = sink.map { Foundation.exp($0 - rowMax) } ?? 0
          for j in keys {
            scores[j] = Foundation.exp(scores[j] - rowMax)
            sum += scores[j]
          }
          let oBase = ((b * s.queryLength + i) * s.queryHeads + h) * s.valueDim
          for j in keys {
            let p = scores[j] / sum
            let vBase = problem.value.layout.offset(batch: b, sequence: span.k0 + j, head: kvh)
            for d in 0..<s.valueDim { output[oBase + d] += p * Double(v[vBase + d]) }
          }
          lse[(b * s.queryHeads + h) * s.queryLength + i] = rowMax + Foundation.log(sum)
        }
      }
    }
    return Result(output: output, lse: lse)
  }
}
