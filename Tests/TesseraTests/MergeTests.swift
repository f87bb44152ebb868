import Tessera
import Testing

/// State merging: attention over keys [0, n) equals the log-sum-exp merge of attention over
/// [0, m) and [m, n), computed by `Attention.forward` on sliced K/V.
@Suite struct MergeTests {
  /// Slices rows [lo, hi) of a (batch, keys, heads, dim) bshd tensor.
  static func slice(_ x: [Float], batch: Int, keys: Int, rowWidth: Int, _ lo: Int, _ hi: Int)
    -> [Float]
  {
    var out: [Float] = []
    for b in 0..<batch {
      out += x[(b * keys + lo) * rowWidth..<(b * keys + hi) * rowWidth]
    }
    return out
  }

  @Test(arguments: [(1, 37, 100), (2, 64, 65), (1, 1, 130)])
  func splitEqualsWhole(batch: Int, m: Int, n: Int) throws {
    let hq = 4
    let hkv = 2
    let d = 24
    let sq = 5
    var rng = DecodeRandom(seed: UInt64(m * 1000 + n))
    let q = rng.floats(batch * sq * hq * d)
    let k = rng.floats(batch * n * hkv * d)
    let v = rng.floats(batch * n * hkv * d)
    func problem(_ keys: Int) -> AttentionProblem {
      AttentionProblem(
        shape: AttentionShape(
          batch: batch, queryHeads: hq, kvHeads: hkv, queryLength: sq, keyLength: keys,
          headDim: d))
    }
    let options = AttentionOptions(threads: 1)
    let whole = try Attention.forward(problem(n), q: q, k: k, v: v, options: options)
    let first = try Attention.forward(
      problem(m), q: q, k: Self.slice(k, batch: batch, keys: n, rowWidth: hkv * d, 0, m),
      v: Self.slice(v, batch: batch, keys: n, rowWidth: hkv * d, 0, m), options: options)
    let second = try Attention.forward(
      problem(n - m), q: q, k: Self.slice(k, batch: batch, keys: n, rowWidth: hkv * d, m, n),
      v: Self.slice(v, batch: batch, keys: n, rowWidth: hkv * d, m, n), options: options)
    let merged = try AttentionState.merge([first, second], problem: problem(1))
    // Against the kernel on all keys and against the Double reference.
    var errO = 0.0
    for (x, y) in zip(merged.output, whole.output) { errO = max(errO, Double(abs(x - y))) }
    var errL = 0.0
    for (x, y) in zip(merged.lse, whole.lse) { errL = max(errL, Double(abs(x - y))) }
    #expect(errO <= 4e-6, "O: \(errO)")
    #expect(errL <= 1e-5, "LSE: \(errL)")
    let ref = try q.withUnsafeBufferPointer { qp in
      try k.withUnsafeBufferPointer { kp in
        try v.withUnsafeBufferPointer { vp in
          try ReferenceAttention.compute(problem(n), q: qp, k: kp, v: vp)
        }
      }
    }
    var refO = 0.0
    for (x, y) in zip(merged.output, ref.output) { refO = max(refO, abs(Double(x) - y)) }
    var refL = 0.0
    for (x, y) in zip(merged.lse, ref.lse) { refL = max(refL, abs(Double(x) - y)) }
    #expect(refO <= 4e-6, "O vs reference: \(refO)")
    #expect(refL <= 1e-5, "LSE vs reference: \(refL)")
  }

  /// −∞ partials: all −∞ gives O = 0, LSE = −∞; one −∞ partial leaves the other unchanged.
  @Test func minusInfinity() throws {
    let a = AttentionState(
      output: [1, 2, 3, 4, 5, 6, 7, 8, 9], lse: [0.5, -.infinity, -.infinity], valueDim: 3)
    let b = AttentionState(
      output: [9, 9, 9, 0, 0, 0, 1, 1, 1], lse: [-.infinity, -.infinity, 2], valueDim: 3)
    let m = try AttentionState.merge([a, b])
    #expect(Array(m.output[0..<3]) == [1, 2, 3])
    #expect(m.lse[0] == 0.5)
    #expect(Array(m.output[3..<6]) == [0, 0, 0])
    #expect(m.lse[1] == -.infinity)
    #expect(Array(m.output[6..<9]) == [1, 1, 1])
    #expect(m.lse[2] == 2)
  }

  /// A sink is a partial with O = 0 and LSE = sink: merging it in equals the kernel with sinks.
  @Test func sinkAsPartial() throws {
    let shape = AttentionShape(queryHeads: 3, queryLength: 4, keyLength: 50, headDim: 16)
    let sinks: [Float] = [0.3, -1, 2.5]
    var rng = DecodeRandom(seed: 77)
    let q = rng.floats(4 * 3 * 16)
    let k = rng.floats(50 * 3 * 16)
    let v = rng.floats(50 * 3 * 16)
    let plain = try Attention.forward(AttentionProblem(shape: shape), q: q, k: k, v: v)
    let withSinks = try Attention.forward(
      AttentionProblem(shape: shape, modifiers: ScoreModifiers(sinks: sinks)), q: q, k: k, v: v)
    // Rows of the merge are (head, query): LSE order; gather O to match.
    var out = [Float]()
    for h in 0..<3 {
      for i in 0..<4 { out += plain.output[(i * 3 + h) * 16..<(i * 3 + h + 1) * 16] }
    }
    let rowSinks = (0..<3).flatMap { h in [Float](repeating: sinks[h], count: 4) }
    let m = try AttentionState.merge(
      [AttentionState(output: out, lse: plain.lse, valueDim: 16)], sinks: rowSinks)
    for h in 0..<3 {
      for i in 0..<4 {
        let row = h * 4 + i
        #expect(abs(m.lse[row] - withSinks.lse[row]) <= 1e-5)
        for d in 0..<16 {
          #expect(abs(m.output[row * 16 + d] - withSinks.output[(i * 3 + h) * 16 + d]) <= 4e-6)
        }
      }
    }
  }

  /// The strided raw-pointer form gives the same bits as the array form.
  @Test func rawMatchesArray() throws {
    var rng = DecodeRandom(seed: 5)
    let dv = 13
    let rows = 3
    let states = (0..<4).map { i in
      AttentionState(
        output: rng.floats(rows * dv),
        lse: rng.floats(rows, amplitude: 4).enumerated().map {
          i == 2 && $0.offset == 1 ? -.infinity : $0.element
        }, valueDim: dv)
    }
    let viaArrays = try AttentionState.merge(states)
    let outputs = states.flatMap(\.output)
    let lses = states.flatMap(\.lse)
    var out = [Float](repeating: 0, count: rows * dv)
    var lse = [Float](repeating: 0, count: rows)
    outputs.withUnsafeBufferPointer { o in
      lses.withUnsafeBufferPointer { l in
        out.withUnsafeMutableBufferPointer { po in
          lse.withUnsafeMutableBufferPointer { pl in
            AttentionState.merge(
              count: 4, rows: rows, valueDim: dv, outputs: o.baseAddress!, outputStride: rows * dv,
              lse: l.baseAddress!, lseStride: rows, into: po.baseAddress!,
              mergedLSE: pl.baseAddress!)
          }
        }
      }
    }
    #expect(decodeBitwiseEqual(out, viaArrays.output))
    #expect(decodeBitwiseEqual(lse, viaArrays.lse))
  }

  @Test func shapeErrors() {
    let a = AttentionState(output: [1, 2], lse: [0], valueDim: 2)
    let b = AttentionState(output: [1, 2, 3], lse: [0], valueDim: 3)
    #expect(throws: AttentionError.self) { try AttentionState.merge([a, b]) }
    #expect(throws: AttentionError.self) { try AttentionState.merge([]) }
    #expect(throws: AttentionError.self) { try AttentionState.merge([a], sinks: [1, 2]) }
  }
}
