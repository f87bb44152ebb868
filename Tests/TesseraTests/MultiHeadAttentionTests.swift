import Foundation
import Tessera
import Testing

/// The layer with random weights against a naive composition: projections as Double matmuls,
/// then `ReferenceAttention`, then the output projection in Double.
///
/// Tolerance: inputs in [-1, 1), weights in ±1/√in, so projections are O(1) and O, y are
/// smaller (y ≈ 0.1–0.5 here). The Float path adds the GEMM error (≲ √E·u ≈ 4e-7 at E = 48),
/// the attention error (≤ 4e-6 bound, ~5e-7 measured, see TestSupport) and the output
/// projection's. The reference rounds its projections to Float before attention, as the layer
/// does. Measured worst: 2.1e-7 (self), 8.9e-8 (cross); decode against full causal was
/// bitwise equal. 2e-6 leaves ~10×; a wrong head offset, mask or bias moves y by ≥ 1e-2.
@Suite struct MultiHeadAttentionTests {
  static let tolerance = 2e-6

  /// y = x·W_qᵀ… composed naively. `memory` nil: self-attention.
  static func naive(
    _ c: MultiHeadAttentionConfiguration, _ w: MultiHeadAttentionWeights, x: [Float],
    memory: [Float]?, causal: Bool
  ) throws -> [Double] {
    func linear(
      _ input: [Float], _ rows: Int, _ inDim: Int, _ weight: [Float], _ bias: [Float]?,
      _ outDim: Int
    ) -> [Double] {
      var out = [Double](repeating: 0, count: rows * outDim)
      for r in 0..<rows {
        for j in 0..<outDim {
          var s = Double(bias?[j] ?? 0)
          for p in 0..<inDim { s += Double(input[r * inDim + p]) * Double(weight[j * inDim + p]) }
          out[r * outDim + j] = s
        }
      }
      return out
    }
    let s = x.count / c.embedDim
    let src = memory ?? x
    let m = src.count / c.memoryDim
    let q = linear(x, s, c.embedDim, w.query, w.queryBias, c.heads * c.headDim)
    let k = linear(src, m, c.memoryDim, w.key, w.keyBias, c.kvHeads * c.headDim)
    let v = linear(src, m, c.memoryDim, w.value, w.valueBias, c.kvHeads * c.valueDim)
    let shape = AttentionShape(
      queryHeads: c.heads, kvHeads: c.kvHeads, queryLength: s, keyLength: m, headDim: c.headDim,
      valueDim: c.valueDim)
    let problem = AttentionProblem(shape: shape, mask: causal ? .causal : .none)
    let (qf, kf, vf) = (q.map(Float.init), k.map(Float.init), v.map(Float.init))
    let o = try qf.withUnsafeBufferPointer { qb in
      try kf.withUnsafeBufferPointer { kb in
        try vf.withUnsafeBufferPointer { vb in
          try ReferenceAttention.compute(problem, q: qb, k: kb, v: vb).output
        }
      }
    }
    let inDim = c.heads * c.valueDim
    var y = [Double](repeating: 0, count: s * c.embedDim)
    for r in 0..<s {
      for j in 0..<c.embedDim {
        var acc = Double(w.outputBias?[j] ?? 0)
        for p in 0..<inDim { acc += o[r * inDim + p] * Double(w.output[j * inDim + p]) }
        y[r * c.embedDim + j] = acc
      }
    }
    return y
  }

  static func maxError(_ a: [Float], _ b: [Double]) -> Double {
    precondition(a.count == b.count)
    return zip(a, b).map { abs(Double($0) - $1) }.max() ?? 0
  }

  static let configurations: [MultiHeadAttentionConfiguration] = [
    .init(embedDim: 48, heads: 4),
    .init(embedDim: 48, heads: 6, kvHeads: 2),  // GQA 3:1
    .init(embedDim: 40, heads: 4, kvHeads: 1, headDim: 7, valueDim: 12, bias: false),  // MQA
    .init(embedDim: 33, heads: 3, headDim: 11),
  ]

  @Test(arguments: 0..<4, [false, true])
  func selfAttention(index: Int, causal: Bool) throws {
    let c = Self.configurations[index]
    let w = MultiHeadAttentionWeights.random(c, seed: UInt64(index + 1))
    let layer = try MultiHeadAttention(
      configuration: c, weights: w, options: AttentionOptions(threads: 2))
    var rng = SplitMix64(seed: 7)
    let x = rng.floats(37 * c.embedDim)
    let y = try layer.selfAttention(x, causal: causal)
    let e = Self.maxError(y, try Self.naive(c, w, x: x, memory: nil, causal: causal))
    #expect(e <= Self.tolerance, "\(c) causal=\(causal): \(e)")
    #expect(layer.lastProfile.projections > 0 && layer.lastProfile.attention > 0)
  }

  @Test(arguments: 0..<4)
  func crossAttention(index: Int) throws {
    var c = Self.configurations[index]
    c.memoryDim = 20  // kdim/vdim ≠ embedDim
    let w = MultiHeadAttentionWeights.random(c, seed: 11)
    let layer = try MultiHeadAttention(
      configuration: c, weights: w, options: AttentionOptions(threads: 2))
    var rng = SplitMix64(seed: 8)
    let x = rng.floats(13 * c.embedDim)
    let memory = rng.floats(29 * c.memoryDim)
    let y = try layer.crossAttention(x, memory: memory)
    let e = Self.maxError(y, try Self.naive(c, w, x: x, memory: memory, causal: false))
    #expect(e <= Self.tolerance, "\(c): \(e)")
    #expect(throws: LayerError.self) { try layer.selfAttention(x) }
  }

  /// Prefill then token-by-token decode through the layer's KV cache equals causal
  /// self-attention over the whole sequence.
  @Test(arguments: 0..<4)
  func incrementalDecodeEqualsFullCausal(index: Int) throws {
    let c = Self.configurations[index]
    let w = MultiHeadAttentionWeights.random(c, seed: 5)
    let layer = try MultiHeadAttention(
      configuration: c, weights: w, options: AttentionOptions(threads: 2))
    var rng = SplitMix64(seed: 9)
    let total = 23
    let x = rng.floats(total * c.embedDim)
    let full = try layer.selfAttention(x, causal: true)
    let e = c.embedDim
    var pieces = try layer.decode(Array(x[0..<(9 * e)]))  // prompt of 9 tokens
    #expect(layer.cachedTokens == 9)
    pieces += try layer.decode(Array(x[(9 * e)..<(12 * e)]))  // a chunk of 3
    for t in 12..<total {
      pieces += try layer.decode(Array(x[(t * e)..<((t + 1) * e)]))
    }
    #expect(layer.cachedTokens == total)
    let err = zip(pieces, full).map { abs(Double($0) - Double($1)) }.max() ?? 0
    #expect(err <= Self.tolerance, "\(c): \(err)")
    layer.resetCache()
    #expect(layer.cachedTokens == 0)
    let again = try layer.decode(Array(x[0..<e]))
    #expect(zip(again, full[0..<e]).allSatisfy { abs(Double($0 - $1)) <= Self.tolerance })
  }

  @Test func loadsSafetensorsAndNPY() throws {
    let c = MultiHeadAttentionConfiguration(embedDim: 24, heads: 3, kvHeads: 1)
    let w = MultiHeadAttentionWeights.random(c, seed: 3)
    let shapes = [
      [c.heads * c.headDim, 24], [c.kvHeads * c.headDim, 24],
      [c.kvHeads * c.valueDim, 24], [24, c.heads * c.valueDim],
    ]
    let names = ["q_proj", "k_proj", "v_proj", "out_proj"]
    let weights = [w.query, w.key, w.value, w.output]
    let biases = [w.queryBias!, w.keyBias!, w.valueBias!, w.outputBias!]
    var tensors: [String: SafetensorsTensor] = [:]
    let dir = NSTemporaryDirectory() + "tessera-mha-\(ProcessInfo.processInfo.processIdentifier)"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    for i in 0..<4 {
      tensors["attn." + names[i] + ".weight"] = SafetensorsTensor(
        shape: shapes[i], float32: weights[i])
      tensors["attn." + names[i] + ".bias"] = SafetensorsTensor(
        shape: [shapes[i][0]], float32: biases[i])
      try NPYArray(shape: shapes[i], float32: weights[i]).write(
        to: dir + "/" + names[i] + ".weight.npy")
      try NPYArray(shape: [shapes[i][0]], float32: biases[i]).write(
        to: dir + "/" + names[i] + ".bias.npy")
    }
    let path = dir + "/mha.safetensors"
    try SafetensorsFile(tensors: tensors).write(to: path)
    var rng = SplitMix64(seed: 4)
    let x = rng.floats(10 * 24)
    let expected = try MultiHeadAttention(configuration: c, weights: w).selfAttention(x)
    let fromSafetensors = try MultiHeadAttention(
      configuration: c, safetensors: path,
      names: MultiHeadAttentionWeights.WeightNames(prefix: "attn."))
    #expect(bitwiseEqual(try fromSafetensors.selfAttention(x), expected))
    let fromNPY = try MultiHeadAttention(
      configuration: c, weights: MultiHeadAttentionWeights(npyDirectory: dir, configuration: c))
    #expect(bitwiseEqual(try fromNPY.selfAttention(x), expected))
    // A wrong shape and a missing tensor are typed errors.
    #expect(throws: LayerError.missingWeight(name: "q_proj.weight")) {
      _ = try MultiHeadAttention(configuration: c, safetensors: path)
    }
    let wide = MultiHeadAttentionConfiguration(embedDim: 24, heads: 3)
    #expect(
      throws: LayerError.weightShape(
        name: "attn.k_proj.weight", expected: [24, 24], actual: [8, 24])
    ) {
      _ = try MultiHeadAttention(
        configuration: wide, safetensors: path,
        names: MultiHeadAttentionWeights.WeightNames(prefix: "attn."))
    }
  }

  @Test func validation() throws {
    #expect(throws: LayerError.self) {
      _ = try MultiHeadAttention(
        configuration: .init(embedDim: 8, heads: 3, kvHeads: 2),
        weights: .init(query: [], key: [], value: [], output: []))
    }
    let c = MultiHeadAttentionConfiguration(embedDim: 8, heads: 2)
    let layer = try MultiHeadAttention(configuration: c, weights: .random(c, seed: 1))
    #expect(throws: LayerError.inputSize(name: "x", count: 7, rowLength: 8)) {
      _ = try layer.selfAttention([Float](repeating: 0, count: 7))
    }
  }
}
