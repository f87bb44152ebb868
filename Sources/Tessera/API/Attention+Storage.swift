/// Attention on tensors stored as Float32, Float16 or BFloat16, each as the problem's tensor
/// descriptors say (`problem.query.scalarType`, …). Compute and the log-sum-exp are Float32.
/// Mixed storage works (e.g. Float32 Q with Float16 K/V, as in a half-precision KV cache).
extension Attention {
  /// Validates `problem` against raw buffers of `q`, `k`, `v` and `output` bytes.
  @discardableResult
  public static func validate(
    _ problem: AttentionProblem, qBytes: Int, kBytes: Int, vBytes: Int, outputBytes: Int,
    lse: Int?, bias: Int? = nil, options: AttentionOptions
  ) throws(AttentionError) -> AttentionProblem.RequiredCounts {
    let counts = try problem.validate()
    let tensors: [(String, TensorDescriptor, Int, Int)] = [
      ("Q", problem.query, qBytes, counts.query), ("K", problem.key, kBytes, counts.key),
      ("V", problem.value, vBytes, counts.value), ("O", problem.output, outputBytes, counts.output),
    ]
    for (name, descriptor, bytes, required) in tensors {
      try check(buffer: bytes / descriptor.scalarType.byteCount, required: required, tensor: name)
    }
    if let lse { try check(buffer: lse, required: counts.lse, tensor: "LSE") }
    if problem.bias != nil {
      try check(buffer: bias ?? 0, required: counts.bias, tensor: "bias")
    }
    if options.threads <= 0 { throw .invalidThreadCount(options.threads) }
    if problem.shape.keyLength > Int(Int32.max) || problem.shape.queryLength > Int(Int32.max) {
      throw .sequenceTooLong(
        length: max(problem.shape.keyLength, problem.shape.queryLength), maximum: Int(Int32.max))
    }
    return counts
  }

  /// Computes attention on raw buffers whose element types the problem's descriptors give.
  /// `lse`, when given, receives Float32 log-sum-exp per (batch, query head, query row);
  /// `bias` is the additive Float32 bias that `problem.bias` lays out (required when it is set).
  public static func forward(
    _ problem: AttentionProblem,
    q: UnsafeRawBufferPointer, k: UnsafeRawBufferPointer, v: UnsafeRawBufferPointer,
    output: UnsafeMutableRawBufferPointer, lse: UnsafeMutableBufferPointer<Float>? = nil,
    bias: UnsafeBufferPointer<Float>? = nil, options: AttentionOptions = AttentionOptions()
  ) throws(AttentionError) {
    try validate(
      problem, qBytes: q.count, kBytes: k.count, vBytes: v.count, outputBytes: output.count,
      lse: lse?.count, bias: bias?.count, options: options)
    guard let qp = q.baseAddress, let kp = k.baseAddress, let vp = v.baseAddress,
      let op = output.baseAddress
    else { return }  // unreachable: validated counts are ≥ 1
    var ops = FlashOperands(problem: problem, q: qp, k: kp, v: vp, o: op, lse: lse?.baseAddress)
    ops.bias = problem.bias == nil ? nil : bias?.baseAddress
    runPrefill(ops, options: options)
  }
}
