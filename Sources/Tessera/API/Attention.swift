import Dispatch
import Foundation

/// How an attention call runs.
public struct AttentionOptions: Hashable, Sendable {
  /// Worker threads (default: every online CPU).
  public var threads: Int
  /// Tile sizes of the flash kernel.
  public var tileConfig: TileConfig

  public init(threads: Int? = nil, tileConfig: TileConfig = .default) {
    self.threads = threads ?? ProcessInfo.processInfo.activeProcessorCount
    self.tileConfig = tileConfig
  }
}

/// O and LSE of an attention call made on arrays.
public struct AttentionResult: Sendable {
  /// O in the problem's output layout.
  public var output: [Float]
  /// LSE in (batch, queryHeads, queryLength) order.
  public var lse: [Float]
}

/// Exact attention, `O = softmax(Q·Kᵀ·scale + mask)·V`, computed flash-style: the Sq×Skv score
/// matrix never exists; memory beyond the tensors is a few tiles per thread.
public enum Attention {
  static func check(buffer count: Int, required: Int, tensor: String) throws(AttentionError) {
    if count < required { throw .bufferTooSmall(tensor: tensor, required: required, actual: count) }
  }

  /// Storage types this build's kernels accept for each tensor.
  public static let supportedScalarTypes: [ScalarType] = [.float32]

  /// Validates `problem` against the buffers; returns the required counts.
  @discardableResult
  public static func validate(
    _ problem: AttentionProblem, q: Int, k: Int, v: Int, output: Int, lse: Int?,
    options: AttentionOptions
  ) throws(AttentionError) -> AttentionProblem.RequiredCounts {
    let counts = try problem.validate()
    let tensors = [
      ("Q", problem.query), ("K", problem.key), ("V", problem.value), ("O", problem.output),
    ]
    for (name, t) in tensors where !supportedScalarTypes.contains(t.scalarType) {
      throw .unsupportedScalarType(tensor: name, type: t.scalarType, supported: supportedScalarTypes)
    }
    try check(buffer: q, required: counts.query, tensor: "Q")
    try check(buffer: k, required: counts.key, tensor: "K")
    try check(buffer: v, required: counts.value, tensor: "V")
    try check(buffer: output, required: counts.output, tensor: "O")
    if let lse { try check(buffer: lse, required: counts.lse, tensor: "LSE") }
    if options.threads <= 0 { throw .invalidThreadCount(options.threads) }
    // Key positions are compared as Int32 inside the kernel's mask.
    if problem.shape.keyLength > Int(Int32.max) || problem.shape.queryLength > Int(Int32.max) {
      throw .sizeOverflow(tensor: "sequence length (at most \(Int32.max))")
    }
    return counts
  }

  /// Computes attention into caller-owned buffers. `lse`, when given, receives the log-sum-exp
  /// per (batch, query head, query row). The output buffer must not alias the inputs.
  public static func forward(
    _ problem: AttentionProblem,
    q: UnsafeBufferPointer<Float>, k: UnsafeBufferPointer<Float>, v: UnsafeBufferPointer<Float>,
    output: UnsafeMutableBufferPointer<Float>, lse: UnsafeMutableBufferPointer<Float>? = nil,
    options: AttentionOptions = AttentionOptions()
  ) throws(AttentionError) {
    try validate(
      problem, q: q.count, k: k.count, v: v.count, output: output.count, lse: lse?.count,
      options: options)
    guard let qp = q.baseAddress, let kp = k.baseAddress, let vp = v.baseAddress,
      let op = output.baseAddress
    else { return }  // unreachable: validated counts are ≥ 1
    let ops = FlashOperands(problem: problem, q: qp, k: kp, v: vp, o: op, lse: lse?.baseAddress)
    runPrefill(ops, options: options)
  }

  /// Computes attention on arrays; O comes back in the problem's output layout.
  public static func forward(
    _ problem: AttentionProblem, q: [Float], k: [Float], v: [Float],
    options: AttentionOptions = AttentionOptions()
  ) throws(AttentionError) -> AttentionResult {
    let counts = try problem.validate()
    var output = [Float](repeating: 0, count: counts.output)
    var lse = [Float](repeating: 0, count: counts.lse)
    try q.withUnsafeBufferPointer { (q) throws(AttentionError) in
      try k.withUnsafeBufferPointer { (k) throws(AttentionError) in
        try v.withUnsafeBufferPointer { (v) throws(AttentionError) in
          try output.withUnsafeMutableBufferPointer { (o) throws(AttentionError) in
            try lse.withUnsafeMutableBufferPointer { (l) throws(AttentionError) in
              try forward(problem, q: q, k: k, v: v, output: o, lse: l, options: options)
            }
          }
        }
      }
    }
    return AttentionResult(output: output, lse: lse)
  }

  /// The async form: the work runs on Dispatch worker threads, so a caller on Swift's
  /// cooperative pool never blocks one of its threads while attention runs.
  public static func forward(
    _ problem: AttentionProblem, q: [Float], k: [Float], v: [Float],
    options: AttentionOptions = AttentionOptions()
  ) async throws(AttentionError) -> AttentionResult {
    let result: Result<AttentionResult, AttentionError> = await withCheckedContinuation {
      continuation in
      DispatchQueue.global().async {
        do throws(AttentionError) {
          continuation.resume(returning: .success(try forward(problem, q: q, k: k, v: v, options: options)))
        } catch {
          continuation.resume(returning: .failure(error))
        }
      }
    }
    return try result.get()
  }

  /// Splits prefill into (batch, head, query tile) items, longest first when causal so the
  /// last items to finish are the short ones, and runs them.
  static func runPrefill(_ ops: FlashOperands, options: AttentionOptions) {
    let shape = ops.problem.shape
    let config = options.tileConfig
    let tiles = (shape.queryLength + config.queryTile - 1) / config.queryTile
    let perTile = shape.batch * shape.queryHeads
    let total = tiles * perTile
    let longestFirst = ops.problem.mask.isCausal
    WorkerPool.run(
      items: total, threads: options.threads,
      makeState: { FlashScratch(config: config, headDim: shape.headDim, valueDim: shape.valueDim) },
      body: { index, scratch in
        let rank = index / perTile
        let tile = longestFirst ? tiles - 1 - rank : rank
        let bh = index % perTile
        let item = FlashWorkItem(batch: bh / shape.queryHeads, head: bh % shape.queryHeads, tile: tile)
        FlashKernel.run(item, ops, scratch: scratch)
      })
  }
}
