import Dispatch
import Foundation

/// How an attention call runs.
public struct AttentionOptions: Hashable, Sendable {
  /// Worker threads at most (default: every online CPU). The runtime may use fewer: never more
  /// than its cores, and fewer for calls too small to pay for waking a worker.
  public var threads: Int
  /// Tile sizes of the flash kernel.
  public var tileConfig: TileConfig
  /// Executor of the call's workers; `nil`: the runtime's default.
  public var executor: ExecutorKind?
  /// Runtime the call runs on; `nil`: `Runtime.shared` (every core of the machine's topology).
  public var runtime: Runtime?

  public init(
    threads: Int? = nil, tileConfig: TileConfig = .default, executor: ExecutorKind? = nil,
    runtime: Runtime? = nil
  ) {
    self.threads = threads ?? ProcessInfo.processInfo.activeProcessorCount
    self.tileConfig = tileConfig
    self.executor = executor
    self.runtime = runtime
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
      throw .unsupportedScalarType(
        tensor: name, type: t.scalarType, supported: supportedScalarTypes)
    }
    try check(buffer: q, required: counts.query, tensor: "Q")
    try check(buffer: k, required: counts.key, tensor: "K")
    try check(buffer: v, required: counts.value, tensor: "V")
    try check(buffer: output, required: counts.output, tensor: "O")
    if let lse { try check(buffer: lse, required: counts.lse, tensor: "LSE") }
    if options.threads <= 0 { throw .invalidThreadCount(options.threads) }
    // These overloads take no bias buffer: a problem with a bias must not run without it.
    if problem.bias != nil {
      throw .bufferTooSmall(tensor: "bias", required: counts.bias, actual: 0)
    }
    // Key positions are compared as Int32 inside the kernel's mask.
    if problem.shape.keyLength > Int(Int32.max) || problem.shape.queryLength > Int(Int32.max) {
      throw .sequenceTooLong(
        length: max(problem.shape.keyLength, problem.shape.queryLength), maximum: Int(Int32.max))
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
    // Sizes are checked against the arrays before O and LSE are allocated from them.
    let counts = try validate(
      problem, q: q.count, k: k.count, v: v.count, output: .max, lse: .max, options: options)
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

  /// The async form: the caller's task is suspended, never blocking a thread of Swift's
  /// cooperative pool, while the runtime's workers compute; it shares the runtime's admission
  /// queue with every other caller. A call whose task is cancelled while it still waits for a
  /// worker is withdrawn and throws `.cancelled`; once started it runs to the end.
  public static func forward(
    _ problem: AttentionProblem, q: [Float], k: [Float], v: [Float],
    options: AttentionOptions = AttentionOptions()
  ) async throws(AttentionError) -> AttentionResult {
    let counts = try validate(
      problem, q: q.count, k: k.count, v: v.count, output: .max, lse: .max, options: options)
    let buffers = PrefillBuffers(q: q, k: k, v: v, counts: counts)
    defer { buffers.deallocate() }
    do {
      try await runPrefillCancellable(buffers.operands(problem), options: options)
    } catch {
      throw .cancelled
    }
    return buffers.result(counts)
  }

  /// Splits prefill into (batch, head, query tile) items, homes each on its head group's node,
  /// orders each node's items longest first (causal tiles differ in cost), and runs them on the
  /// runtime. Every item writes only its own rows and computes them the same way on any
  /// thread, so the result is bitwise identical for any thread count, executor and topology.
  static func runPrefill(_ ops: FlashOperands, options: AttentionOptions) {
    let (runtime, work) = prefillWork(ops, options: options)
    runtime.run(work)
  }

  /// `runPrefill` for async callers: suspends instead of blocking.
  static func runPrefill(_ ops: FlashOperands, options: AttentionOptions) async {
    let (runtime, work) = prefillWork(ops, options: options)
    await runtime.run(work)
  }

  /// `runPrefill` that a task's cancellation withdraws while it waits for a worker.
  static func runPrefillCancellable(
    _ ops: FlashOperands, options: AttentionOptions
  ) async throws(CancellationError) {
    let (runtime, work) = prefillWork(ops, options: options)
    try await runtime.runCancellable(work)
  }

  static func prefillWork(
    _ ops: FlashOperands, options: AttentionOptions
  ) -> (Runtime, ParallelWork) {
    let runtime = options.runtime ?? .shared
    let shape = ops.problem.shape
    let config = FlashKernel.effectiveConfig(ops.problem, requested: options.tileConfig)
    let plan = PrefillPlan(
      shape: shape, mask: ops.problem.mask, queryTile: config.queryTile,
      sparse: ops.problem.blockSparse, ragged: ops.problem.ragged)
    let key = ScratchKey(config: config, headDim: shape.headDim, valueDim: shape.valueDim)
    let scratches = SlotStates<FlashScratch>(slots: runtime.workerCount)
    var work = ParallelWork(
      partition: plan.partition(distances: runtime.topology.distances),
      workers: runtime.workers(
        threads: options.threads, items: plan.itemCount, totalCost: plan.totalCost),
      executor: options.executor ?? runtime.defaultExecutor,
      body: { i, slot in
        // Made once per worker slot, by the thread bound to the slot's node (first touch).
        let scratch = scratches.state(for: slot) {
          slot.state(key) {
            FlashScratch(config: config, headDim: shape.headDim, valueDim: shape.valueDim)
          }
        }
        let (b, h, t) = plan.item(i)
        FlashKernel.run(FlashWorkItem(batch: b, head: h, tile: t), ops, scratch: scratch)
      })
    // Trace labels (read only when a `TraceRecorder` is attached to the runtime).
    work.name = "prefill"
    work.describe = { i in
      let (b, h, t) = plan.item(i)
      return [("batch", b), ("head", h), ("tile", t), ("rows", t * config.queryTile)]
    }
    return (runtime, work)
  }

  /// Identifies a per-thread scratch shape in a worker slot's cache.
  struct ScratchKey: Hashable, Sendable {
    let config: TileConfig
    let headDim: Int
    let valueDim: Int
  }
}
