import ArgumentParser
import Tessera

/// `tessera run`: attention on tensors in `.npy` files.
struct RunCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "run",
    abstract: "Compute attention on Q, K, V from .npy files and write O (and LSE).",
    discussion: """
      Q is (batch, seq_q, heads, dim), K is (batch, seq_kv, kv_heads, dim), V is (batch, \
      seq_kv, kv_heads, dim_v), float32 or float16 (mixed allowed), C order. O is written as \
      (batch, seq_q, heads, dim_v) in Q's dtype and LSE (log-sum-exp of the scaled scores) as (batch, heads, seq_q) float32, \
      -inf for a fully masked row.
      """)

  @Option(help: "Query tensor, (batch, seq_q, heads, dim).") var q: String
  @Option(help: "Key tensor, (batch, seq_kv, kv_heads, dim).") var k: String
  @Option(help: "Value tensor, (batch, seq_kv, kv_heads, dim_v).") var v: String
  @Option(help: "Output file for O.") var out: String
  @Option(help: "Output file for the log-sum-exp.") var lse: String?
  @OptionGroup var maskOptions: MaskOptions
  @OptionGroup var modifierOptions: ModifierOptions
  @Option(help: "Softmax scale; default 1/√dim.") var scale: Float?
  @Option(help: "Worker threads; default: every CPU available.") var threads: Int?

  func run() throws {
    try Console.reportingErrors { try execute() }
  }

  private func load(_ name: String, _ path: String) throws -> RunInputs.Tensor {
    // Matched with `switch` rather than `catch .io(...)`: Swift 6.3's SILGen crashes on a
    // pattern catch of a typed error here.
    do {
      return RunInputs.Tensor(name: name, path: path, array: try NPYArray(contentsOf: path))
    } catch {
      switch error {
      case .io(_, let reason): throw CLIError("\(name): \(path): \(reason)")
      default: throw CLIError("\(name): \(path): \(error)")
      }
    }
  }

  private func execute() throws {
    let inputs = RunInputs(q: try load("Q", q), k: try load("K", k), v: try load("V", v))
    let shape = try inputs.shape()
    var problem = AttentionProblem(
      shape: shape, mask: maskOptions.mask, scale: scale,
      modifiers: modifierOptions.modifiers(queryHeads: shape.queryHeads))
    // Storage comes from the files (float32 or float16, mixed allowed: e.g. a float16 KV cache
    // with float32 queries); O is written in Q's type, LSE in float32.
    problem.query.scalarType = inputs.q.array.dtype.scalarType
    problem.key.scalarType = inputs.k.array.dtype.scalarType
    problem.value.scalarType = inputs.v.array.dtype.scalarType
    problem.output.scalarType = inputs.q.array.dtype.scalarType
    let options = AttentionOptions(threads: threads)
    let counts = try Attention.validate(
      problem, qBytes: inputs.q.array.data.count, kBytes: inputs.k.array.data.count,
      vBytes: inputs.v.array.data.count, outputBytes: .max, lse: nil, options: options)
    var o = [UInt8](repeating: 0, count: counts.output * problem.output.scalarType.byteCount)
    var l = [Float](repeating: 0, count: counts.lse)
    try inputs.q.array.data.withUnsafeBytes { qp in
      try inputs.k.array.data.withUnsafeBytes { kp in
        try inputs.v.array.data.withUnsafeBytes { vp in
          try o.withUnsafeMutableBytes { op in
            try l.withUnsafeMutableBufferPointer { lp in
              try Attention.forward(
                problem, q: qp, k: kp, v: vp, output: op, lse: lp, options: options)
            }
          }
        }
      }
    }
    let s = shape
    try write(
      NPYArray(
        shape: [s.batch, s.queryLength, s.queryHeads, s.valueDim], dtype: inputs.q.array.dtype,
        data: o), to: out)
    if let lse {
      try write(NPYArray(shape: [s.batch, s.queryHeads, s.queryLength], float32: l), to: lse)
    }
  }

  private func write(_ array: NPYArray, to path: String) throws {
    do {
      try array.write(to: path)
    } catch {
      throw CLIError("\(error)")
    }
  }
}
