/// Attention on a specific runtime, cancellable while it waits for a worker.
extension Runtime {
  /// Computes attention on this runtime. A call still queued behind other callers when its task
  /// is cancelled is withdrawn and throws `CancellationError`; a call that has started runs to
  /// the end. Input errors throw `AttentionError`, as `Attention.forward` does.
  public func attention(
    _ problem: AttentionProblem, q: [Float], k: [Float], v: [Float],
    options: AttentionOptions = AttentionOptions()
  ) async throws -> AttentionResult {
    var options = options
    options.runtime = self
    let counts = try Attention.validate(
      problem, q: q.count, k: k.count, v: v.count, output: .max, lse: .max, options: options)
    let buffers = PrefillBuffers(q: q, k: k, v: v, counts: counts)
    defer { buffers.deallocate() }
    try await Attention.runPrefillCancellable(buffers.operands(problem), options: options)
    return buffers.result(counts)
  }
}

/// Q, K, V, O and LSE of an async call in memory that outlives suspension points (an array's
/// `withUnsafeBufferPointer` cannot span an `await`). The inputs are copied once: O(n·d), a
/// few milliseconds against the O(n²·d) kernel.
struct PrefillBuffers: @unchecked Sendable {
  let q: UnsafeMutableBufferPointer<Float>
  let k: UnsafeMutableBufferPointer<Float>
  let v: UnsafeMutableBufferPointer<Float>
  let o: UnsafeMutableBufferPointer<Float>
  let lse: UnsafeMutableBufferPointer<Float>

  init(q: [Float], k: [Float], v: [Float], counts: AttentionProblem.RequiredCounts) {
    func copy(_ a: [Float]) -> UnsafeMutableBufferPointer<Float> {
      let p = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(1, a.count))
      _ = p.initialize(from: a)
      return p
    }
    self.q = copy(q)
    self.k = copy(k)
    self.v = copy(v)
    o = .allocate(capacity: max(1, counts.output))
    o.initialize(repeating: 0)
    lse = .allocate(capacity: max(1, counts.lse))
    lse.initialize(repeating: 0)
  }

  func operands(_ problem: AttentionProblem) -> FlashOperands {
    FlashOperands(
      problem: problem, q: UnsafePointer(q.baseAddress!), k: UnsafePointer(k.baseAddress!),
      v: UnsafePointer(v.baseAddress!), o: o.baseAddress!, lse: lse.baseAddress)
  }

  func result(_ counts: AttentionProblem.RequiredCounts) -> AttentionResult {
    AttentionResult(
      output: Array(o.prefix(counts.output)), lse: Array(lse.prefix(counts.lse)))
  }

  func deallocate() {
    for p in [q, k, v, o, lse] { p.deallocate() }
  }
}
