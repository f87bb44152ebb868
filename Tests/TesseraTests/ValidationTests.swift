import Tessera
import Testing

/// Every invalid input throws its specific `AttentionError` (case and fields), whose description
/// names the offending field; nothing traps. Each test starts from a valid problem and breaks one
/// thing, so the error seen is the one under test.
@Suite struct ValidationTests {
  static let shape = AttentionShape(
    batch: 2, queryHeads: 4, kvHeads: 2, queryLength: 5, keyLength: 6, headDim: 8, valueDim: 4)

  /// Runs the buffer API with buffers of the given sizes (default: exactly what is required).
  static func forward(
    _ p: AttentionProblem, q: Int? = nil, k: Int? = nil, v: Int? = nil, o: Int? = nil,
    lse: Int?? = .some(nil), threads: Int = 1
  ) throws(AttentionError) {
    // Sizes come from the valid base problem when the broken one cannot say.
    let base = try! AttentionProblem(shape: shape).validate()
    let counts = (try? p.validate()) ?? base
    let qb = [Float](repeating: 0, count: q ?? counts.query)
    let kb = [Float](repeating: 0, count: k ?? counts.key)
    let vb = [Float](repeating: 0, count: v ?? counts.value)
    var ob = [Float](repeating: 0, count: o ?? counts.output)
    var lb = [Float](repeating: 0, count: (lse ?? nil) ?? counts.lse)
    let wantsLSE = lse != nil
    let options = AttentionOptions(threads: threads)
    let result: Result<Void, AttentionError> = qb.withUnsafeBufferPointer { q in
      kb.withUnsafeBufferPointer { k in
        vb.withUnsafeBufferPointer { v in
          ob.withUnsafeMutableBufferPointer { o in
            lb.withUnsafeMutableBufferPointer { l in
              Result { () throws(AttentionError) in
                try Attention.forward(
                  p, q: q, k: k, v: v, output: o, lse: wantsLSE ? l : nil, options: options)
              }
            }
          }
        }
      }
    }
    try result.get()
  }

  /// Expects `body` to throw exactly `expected`, whose description mentions every `words`.
  static func expectError(
    _ expected: AttentionError, mentioning words: [String],
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws(AttentionError) -> Void
  ) {
    do throws(AttentionError) {
      try body()
      Issue.record("expected \(expected), nothing was thrown", sourceLocation: sourceLocation)
    } catch {
      #expect(error == expected, sourceLocation: sourceLocation)
      for w in words {
        #expect(
          error.description.contains(w), "\"\(error.description)\" should mention \(w)",
          sourceLocation: sourceLocation)
      }
    }
  }

  @Test func validBaseProblemPasses() throws {
    try Self.forward(AttentionProblem(shape: Self.shape))
    try Self.forward(AttentionProblem(shape: Self.shape), lse: nil)
  }

  @Test(arguments: [
    "batch", "queryHeads", "kvHeads", "queryLength", "keyLength", "headDim", "valueDim",
  ])
  func nonPositiveSizes(field: String) {
    for value in [0, -1, -7] {
      var s = Self.shape
      switch field {
      case "batch": s.batch = value
      case "queryHeads": s.queryHeads = value
      case "kvHeads": s.kvHeads = value
      case "queryLength": s.queryLength = value
      case "keyLength": s.keyLength = value
      case "headDim": s.headDim = value
      default: s.valueDim = value
      }
      let p = AttentionProblem(shape: s)
      let expected = AttentionError.nonPositiveSize(field: field, value: value)
      Self.expectError(expected, mentioning: [field, "\(value)"]) { () throws(AttentionError) in
        try s.validate()
      }
      Self.expectError(expected, mentioning: [field]) { () throws(AttentionError) in
        try Self.forward(p)
      }
      // The array API and the reference validate too.
      Self.expectError(expected, mentioning: [field]) { () throws(AttentionError) in
        _ = try Attention.forward(p, q: [1], k: [1], v: [1], options: AttentionOptions(threads: 1))
      }
      Self.expectError(expected, mentioning: [field]) { () throws(AttentionError) in
        let one: [Float] = [1]
        try one.withUnsafeBufferPointer { (b) throws(AttentionError) in
          _ = try ReferenceAttention.compute(p, q: b, k: b, v: b)
        }
      }
    }
  }

  @Test(arguments: [(4, 3), (2, 4), (7, 2), (1, 2)])
  func headsNotDivisible(heads: (Int, Int)) {
    var s = Self.shape
    s.queryHeads = heads.0
    s.kvHeads = heads.1
    Self.expectError(
      .headsNotDivisible(queryHeads: heads.0, kvHeads: heads.1),
      mentioning: ["queryHeads", "kvHeads", "\(heads.0)", "\(heads.1)"]
    ) { () throws(AttentionError) in try Self.forward(AttentionProblem(shape: s)) }
  }

  @Test(arguments: [Float.nan, .infinity, -.infinity, .signalingNaN])
  func nonFiniteScale(scale: Float) {
    let p = AttentionProblem(shape: Self.shape, scale: scale)
    do throws(AttentionError) {
      try Self.forward(p)
      Issue.record("scale \(scale) was accepted")
    } catch {
      guard case .invalidScale(let got) = error else {
        Issue.record("expected .invalidScale, got \(error)")
        return
      }
      #expect(got.isNaN == scale.isNaN && (scale.isNaN || got == scale))
      #expect(error.description.contains("scale"))
    }
  }

  /// Zero and negative scales are finite and allowed (a zero scale averages V uniformly).
  @Test func zeroAndNegativeScaleAreValid() throws {
    try Self.forward(AttentionProblem(shape: Self.shape, scale: 0))
    try Self.forward(AttentionProblem(shape: Self.shape, scale: -0.5))
  }

  /// Each stride of each tensor, made negative.
  @Test(arguments: ["Q", "K", "V", "O"], ["batch", "sequence", "head"])
  func negativeStride(tensor: String, axis: String) {
    var p = AttentionProblem(shape: Self.shape)
    func breakLayout(_ l: inout TensorLayout) {
      switch axis {
      case "batch": l.batchStride = -l.batchStride
      case "sequence": l.sequenceStride = -l.sequenceStride
      default: l.headStride = -l.headStride
      }
    }
    let value: Int
    switch tensor {
    case "Q": breakLayout(&p.query.layout); value = Self.stride(p.query.layout, axis)
    case "K": breakLayout(&p.key.layout); value = Self.stride(p.key.layout, axis)
    case "V": breakLayout(&p.value.layout); value = Self.stride(p.value.layout, axis)
    default: breakLayout(&p.output.layout); value = Self.stride(p.output.layout, axis)
    }
    Self.expectError(
      .negativeStride(tensor: tensor, axis: axis, value: value),
      mentioning: [tensor, axis, "\(value)"]
    ) { () throws(AttentionError) in try Self.forward(p) }
  }

  static func stride(_ l: TensorLayout, _ axis: String) -> Int {
    switch axis {
    case "batch": l.batchStride
    case "sequence": l.sequenceStride
    default: l.headStride
    }
  }

  /// Layouts in which two elements share an address.
  @Test func overlappingStrides() {
    let s = Self.shape  // Q: 2 batches, 5 rows, 4 heads, dim 8
    let cases: [(TensorLayout, String)] = [
      // BSHD with sequence stride smaller than heads·dim = 32: rows overlap.
      (TensorLayout(batchStride: 160, sequenceStride: 31, headStride: 8), "sequence"),
      // Head stride smaller than dim: heads overlap.
      (TensorLayout(batchStride: 160, sequenceStride: 32, headStride: 7), "head"),
      // Batch stride smaller than a batch's span (5·32 = 160).
      (TensorLayout(batchStride: 159, sequenceStride: 32, headStride: 8), "batch"),
      // Zero strides on axes of extent > 1 (broadcasting is not allowed for any tensor).
      (TensorLayout(batchStride: 160, sequenceStride: 0, headStride: 8), "sequence"),
      (TensorLayout(batchStride: 0, sequenceStride: 32, headStride: 8), "batch"),
      // Two axes with the same stride.
      (TensorLayout(batchStride: 160, sequenceStride: 8, headStride: 8), "stride"),
    ]
    for (layout, axisWord) in cases {
      for tensor in ["Q", "O"] {
        var p = AttentionProblem(shape: s)
        if tensor == "Q" { p.query.layout = layout } else { p.output.layout = layout.withDim(4) }
        do throws(AttentionError) {
          try Self.forward(p)
          Issue.record("\(tensor) \(layout) was accepted")
        } catch {
          guard case .overlappingStrides(let t, let detail) = error else {
            Issue.record("\(tensor) \(layout): expected .overlappingStrides, got \(error)")
            continue
          }
          #expect(t == tensor)
          #expect(detail.contains(axisWord), "\(detail)")
          #expect(error.description.contains(tensor))
        }
      }
    }
    // K and V too.
    var p = AttentionProblem(shape: s)
    p.key.layout.sequenceStride = 15  // < kvHeads·headDim = 16
    Self.expectError(
      .overlappingStrides(tensor: "K", detail: "sequence stride 15 < 16, the span of dim+head"),
      mentioning: ["K"]
    ) { () throws(AttentionError) in try Self.forward(p) }
    p = AttentionProblem(shape: s)
    p.value.layout.headStride = 3  // < valueDim = 4
    Self.expectError(
      .overlappingStrides(tensor: "V", detail: "head stride 3 < 4, the span of dim"),
      mentioning: ["V"]
    ) { () throws(AttentionError) in try Self.forward(p) }
  }

  /// Extents that do not fit in Int: huge strides, and huge sizes with valid strides.
  @Test func overflowingExtents() {
    // Huge strides on a small problem.
    for tensor in ["Q", "K", "V", "O"] {
      var p = AttentionProblem(shape: Self.shape)
      let huge = TensorLayout(batchStride: Int.max - 4, sequenceStride: 32, headStride: 8)
      switch tensor {
      case "Q": p.query.layout = huge
      case "K": p.key.layout = huge
      case "V": p.value.layout = huge
      default: p.output.layout = huge
      }
      Self.expectError(.sizeOverflow(tensor: tensor), mentioning: [tensor]) {
        () throws(AttentionError) in try Self.forward(p)
      }
    }
    // Stride times extent overflows on the sequence axis.
    var p = AttentionProblem(shape: Self.shape)
    p.query.layout = TensorLayout(batchStride: 8, sequenceStride: Int.max / 3, headStride: 0)
    p.shape.queryHeads = 1
    p.shape.kvHeads = 1
    p.key.layout = .bshd(sequence: 6, heads: 1, dim: 8)
    p.value.layout = .bshd(sequence: 6, heads: 1, dim: 4)
    p.output.layout = .bshd(sequence: 5, heads: 1, dim: 4)
    Self.expectError(.sizeOverflow(tensor: "Q"), mentioning: ["Q"]) {
      () throws(AttentionError) in try Self.forward(p)
    }
    // A huge size with a valid-looking stride: (2⁴⁰ − 1)·2²⁴ overflows.
    var big = AttentionProblem(shape: Self.shape)
    big.shape.keyLength = 1 << 40
    big.key.layout = TensorLayout(batchStride: 1 << 62, sequenceStride: 1 << 24, headStride: 8)
    Self.expectError(.sizeOverflow(tensor: "K"), mentioning: ["K"]) {
      () throws(AttentionError) in try Self.forward(big)
    }
  }

  /// Each buffer one element too small (the layouts' required counts are exact).
  @Test(arguments: ["Q", "K", "V", "O", "LSE"])
  func bufferTooSmall(tensor: String) {
    let p = AttentionProblem(shape: Self.shape)
    let counts = try! p.validate()
    let required: Int
    switch tensor {
    case "Q": required = counts.query
    case "K": required = counts.key
    case "V": required = counts.value
    case "O": required = counts.output
    default: required = counts.lse
    }
    for actual in [required - 1, 1, 0] {
      let expected = AttentionError.bufferTooSmall(
        tensor: tensor, required: required, actual: actual)
      Self.expectError(expected, mentioning: [tensor, "\(required)", "\(actual)"]) {
        () throws(AttentionError) in
        switch tensor {
        case "Q": try Self.forward(p, q: actual)
        case "K": try Self.forward(p, k: actual)
        case "V": try Self.forward(p, v: actual)
        case "O": try Self.forward(p, o: actual)
        default: try Self.forward(p, lse: .some(actual))
        }
      }
    }
    // The reference checks its inputs too.
    if ["Q", "K", "V"].contains(tensor) {
      let short = [Float](repeating: 0, count: required - 1)
      let full = [Float](repeating: 0, count: max(counts.query, counts.key, counts.value))
      Self.expectError(
        .bufferTooSmall(tensor: tensor, required: required, actual: required - 1),
        mentioning: [tensor]
      ) { () throws(AttentionError) in
        try short.withUnsafeBufferPointer { (s) throws(AttentionError) in
          try full.withUnsafeBufferPointer { (f) throws(AttentionError) in
            _ = try ReferenceAttention.compute(
              p, q: tensor == "Q" ? s : f, k: tensor == "K" ? s : f, v: tensor == "V" ? s : f)
          }
        }
      }
    }
  }

  @Test func arrayAPIBufferTooSmall() {
    let p = AttentionProblem(shape: Self.shape)
    let counts = try! p.validate()
    Self.expectError(
      .bufferTooSmall(tensor: "K", required: counts.key, actual: 3), mentioning: ["K"]
    ) { () throws(AttentionError) in
      _ = try Attention.forward(
        p, q: [Float](repeating: 0, count: counts.query), k: [0, 0, 0],
        v: [Float](repeating: 0, count: counts.value), options: AttentionOptions(threads: 1))
    }
  }

  /// Storage types the kernels do not (yet) accept: float16 and bfloat16 today. Derived from
  /// `Attention.supportedScalarTypes` so the test follows the library as support lands.
  static let unsupportedTypes = ScalarType.allCases.filter {
    !Attention.supportedScalarTypes.contains($0)
  }

  @Test func float32IsSupported() {
    #expect(Attention.supportedScalarTypes.contains(.float32))
  }

  @Test(arguments: ["Q", "K", "V", "O"], unsupportedTypes)
  func unsupportedScalarType(tensor: String, type: ScalarType) {
    var p = AttentionProblem(shape: Self.shape)
    switch tensor {
    case "Q": p.query.scalarType = type
    case "K": p.key.scalarType = type
    case "V": p.value.scalarType = type
    default: p.output.scalarType = type
    }
    Self.expectError(
      .unsupportedScalarType(tensor: tensor, type: type, supported: Attention.supportedScalarTypes),
      mentioning: [tensor, type.rawValue, "float32"]
    ) { () throws(AttentionError) in try Self.forward(p) }
  }

  /// A whole problem in an unsupported type reports the first tensor, Q.
  @Test(arguments: unsupportedTypes)
  func allUnsupportedProblem(type: ScalarType) {
    let p = AttentionProblem(shape: Self.shape, scalarType: type)
    Self.expectError(
      .unsupportedScalarType(tensor: "Q", type: type, supported: Attention.supportedScalarTypes),
      mentioning: [type.rawValue]
    ) { () throws(AttentionError) in try Self.forward(p) }
  }

  @Test(arguments: [0, -1, -64])
  func invalidThreadCount(threads: Int) {
    let p = AttentionProblem(shape: Self.shape)
    Self.expectError(.invalidThreadCount(threads), mentioning: ["threads", "\(threads)"]) {
      () throws(AttentionError) in try Self.forward(p, threads: threads)
    }
    Self.expectError(.invalidThreadCount(threads), mentioning: ["threads"]) {
      () throws(AttentionError) in
      let c = AttentionCase(p, seed: 1)
      _ = try Attention.forward(
        p, q: c.q, k: c.k, v: c.v, options: AttentionOptions(threads: threads))
    }
  }

  @Test func shapeMismatchDescription() {
    let e = AttentionError.shapeMismatch(tensor: "K", axis: "headDim", expected: 64, actual: 32)
    #expect(e.description.contains("K") && e.description.contains("headDim"))
    #expect(e.description.contains("64") && e.description.contains("32"))
  }
}

extension TensorLayout {
  /// The same layout for a tensor whose last dim is `dim` instead of 8 (strides scaled by dim/8).
  fileprivate func withDim(_ dim: Int) -> TensorLayout {
    TensorLayout(
      batchStride: batchStride * dim / 8, sequenceStride: sequenceStride * dim / 8,
      headStride: headStride * dim / 8)
  }
}
