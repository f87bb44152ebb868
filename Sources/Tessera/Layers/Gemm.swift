/// Single-precision general matrix multiply, `C = α·op(A)·op(B) + β·C`, row-major, written in
/// the style of the attention micro-kernels: a 6×16 register-blocked SIMD8 micro-kernel on
/// packed panels, cache blocking for L1/L2, and parallelism over blocks of C. No BLAS.
///
/// Shapes: op(A) is M×K, op(B) is K×N, C is M×N. Element (i, j) of a row-major matrix with
/// leading dimension `ld` is at `i·ld + j`. `op(X) = Xᵀ` when the operand's `transposed` is
/// true: a transposed A is stored K×M (`a[k·lda + i]`), a transposed B is stored N×K
/// (`b[j·ldb + k]`) — the layout of a PyTorch `nn.Linear` weight, so `x·Wᵀ` is
/// `transposeB: true` with no copy.
///
/// β = 0 never reads C (NaN or garbage in C does not propagate), as in BLAS.
///
/// Determinism: every element of C is summed over k in the same order (KC blocks in order,
/// k ascending within a block) whatever the thread count, so results are bitwise identical
/// for any `threads`.
public enum Gemm {
  /// Runs the multiply on raw buffers; counts are checked against the leading dimensions.
  public static func sgemm(
    m: Int, n: Int, k: Int, alpha: Float = 1,
    a: UnsafeBufferPointer<Float>, lda: Int, transposeA: Bool = false,
    b: UnsafeBufferPointer<Float>, ldb: Int, transposeB: Bool = false,
    beta: Float = 0, c: UnsafeMutableBufferPointer<Float>, ldc: Int,
    options: GemmOptions = GemmOptions()
  ) throws(GemmError) {
    try validate(
      m: m, n: n, k: k, a: a.count, lda: lda, transposeA: transposeA, b: b.count, ldb: ldb,
      transposeB: transposeB, c: c.count, ldc: ldc, threads: options.threads)
    guard m > 0, n > 0 else { return }
    guard let cp = c.baseAddress else { return }
    guard k > 0, alpha != 0, let ap = a.baseAddress, let bp = b.baseAddress else {
      scale(c: cp, m: m, n: n, ldc: ldc, beta: beta)
      return
    }
    let operands = GemmOperands(
      a: ap, lda: lda, transposeA: transposeA, b: bp, ldb: ldb, transposeB: transposeB,
      c: cp, ldc: ldc, m: m, n: n, k: k, alpha: alpha, beta: beta)
    run(operands, options: options)
  }

  /// The multiply on arrays: `c` (M×N, leading dimension N) is updated in place.
  public static func sgemm(
    m: Int, n: Int, k: Int, alpha: Float = 1,
    a: [Float], transposeA: Bool = false, b: [Float], transposeB: Bool = false,
    beta: Float = 0, c: inout [Float], options: GemmOptions = GemmOptions()
  ) throws(GemmError) {
    try a.withUnsafeBufferPointer { (a) throws(GemmError) in
      try b.withUnsafeBufferPointer { (b) throws(GemmError) in
        try c.withUnsafeMutableBufferPointer { (c) throws(GemmError) in
          try sgemm(
            m: m, n: n, k: k, alpha: alpha, a: a, lda: max(1, transposeA ? m : k),
            transposeA: transposeA, b: b, ldb: max(1, transposeB ? k : n), transposeB: transposeB,
            beta: beta, c: c, ldc: max(1, n), options: options)
        }
      }
    }
  }

  /// `2·M·N·K`: the FLOPs of one multiply (the α/β scaling is not counted, as in BLAS).
  public static func flops(m: Int, n: Int, k: Int) -> Double {
    2 * Double(m) * Double(n) * Double(k)
  }

  /// Checks sizes, leading dimensions and buffer counts.
  public static func validate(
    m: Int, n: Int, k: Int, a: Int, lda: Int, transposeA: Bool, b: Int, ldb: Int,
    transposeB: Bool, c: Int, ldc: Int, threads: Int
  ) throws(GemmError) {
    for (name, value) in [("m", m), ("n", n), ("k", k)] where value < 0 {
      throw .negativeSize(field: name, value: value)
    }
    if threads <= 0 { throw .invalidThreadCount(threads) }
    // (rows, columns) as stored.
    let aRows = transposeA ? k : m
    let aCols = transposeA ? m : k
    let bRows = transposeB ? n : k
    let bCols = transposeB ? k : n
    try check("A", rows: aRows, columns: aCols, ld: lda, count: a)
    try check("B", rows: bRows, columns: bCols, ld: ldb, count: b)
    try check("C", rows: m, columns: n, ld: ldc, count: c)
  }

  private static func check(
    _ name: String, rows: Int, columns: Int, ld: Int, count: Int
  ) throws(GemmError) {
    if ld < max(1, columns) {
      throw .leadingDimensionTooSmall(matrix: name, leadingDimension: ld, columns: columns)
    }
    if rows == 0 || columns == 0 { return }
    let (span, o1) = (rows - 1).multipliedReportingOverflow(by: ld)
    let (required, o2) = span.addingReportingOverflow(columns)
    if o1 || o2 { throw .sizeOverflow(matrix: name) }
    if count < required {
      throw .bufferTooSmall(matrix: name, required: required, actual: count)
    }
  }

  /// C = β·C (the whole multiply when K = 0 or α = 0).
  static func scale(c: UnsafeMutablePointer<Float>, m: Int, n: Int, ldc: Int, beta: Float) {
    for i in 0..<m {
      let row = c + i * ldc
      if beta == 0 {
        row.update(repeating: 0, count: n)
      } else if beta != 1 {
        for j in 0..<n { row[j] *= beta }
      }
    }
  }
}

/// How a GEMM runs.
public struct GemmOptions: Hashable, Sendable {
  /// Worker threads at most.
  public var threads: Int
  /// Cache blocking (MC, KC, NC).
  public var blocking: GemmBlocking
  /// Runtime the call runs on; `nil`: `Runtime.shared`.
  public var runtime: Runtime?

  public init(threads: Int = 1, blocking: GemmBlocking = .default, runtime: Runtime? = nil) {
    self.threads = threads
    self.blocking = blocking
    self.runtime = runtime
  }
}

/// Everything that can be wrong with a GEMM call.
public enum GemmError: Error, Hashable, Sendable, CustomStringConvertible {
  case negativeSize(field: String, value: Int)
  case leadingDimensionTooSmall(matrix: String, leadingDimension: Int, columns: Int)
  case bufferTooSmall(matrix: String, required: Int, actual: Int)
  case sizeOverflow(matrix: String)
  case invalidThreadCount(Int)

  public var description: String {
    switch self {
    case .negativeSize(let field, let value):
      return "\(field) must be non-negative, got \(value)"
    case .leadingDimensionTooSmall(let matrix, let ld, let columns):
      return "\(matrix): leading dimension \(ld) is less than max(1, \(columns)), its stored"
        + " columns"
    case .bufferTooSmall(let matrix, let required, let actual):
      return "\(matrix): buffer holds \(actual) elements, the shape and leading dimension"
        + " address \(required)"
    case .sizeOverflow(let matrix):
      return "\(matrix): the addressed extent overflows Int"
    case .invalidThreadCount(let n):
      return "threads must be positive, got \(n)"
    }
  }
}
