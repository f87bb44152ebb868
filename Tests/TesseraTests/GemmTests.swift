import Tessera
import Testing

/// The packed SGEMM against a naive Double product, over shapes that are not multiples of the
/// 6×16 micro-tile or of the cache blocks, every transpose, α/β, padded leading dimensions and
/// thread counts.
@Suite struct GemmTests {
  /// C = α·op(A)·op(B) + β·C in Double, with the same storage conventions as `Gemm`.
  static func naive(
    m: Int, n: Int, k: Int, alpha: Float, a: [Float], lda: Int, ta: Bool, b: [Float], ldb: Int,
    tb: Bool, beta: Float, c: [Float], ldc: Int
  ) -> (value: [Double], bound: [Double]) {
    var out = c.map(Double.init)
    var bound = [Double](repeating: 0, count: c.count)
    for i in 0..<m {
      for j in 0..<n {
        var s = 0.0
        var mag = 0.0
        for p in 0..<k {
          let x = Double(ta ? a[p * lda + i] : a[i * lda + p])
          let y = Double(tb ? b[j * ldb + p] : b[p * ldb + j])
          s += x * y
          mag += abs(x * y)
        }
        let old = beta == 0 ? 0 : Double(beta) * Double(c[i * ldc + j])
        out[i * ldc + j] = Double(alpha) * s + old
        bound[i * ldc + j] = abs(Double(alpha)) * mag + abs(old)
      }
    }
    return (out, bound)
  }

  /// Float32 summation of K products: |error| ≤ γ_K·Σ|a·b| with γ_K ≈ K·u (u = 2⁻²⁴), plus the
  /// α/β rounding (a few u of the magnitude). The bound is rigorous; typical errors are √K
  /// times smaller, and a wrong index moves an element by O(1).
  static func check(
    m: Int, n: Int, k: Int, alpha: Float = 1, beta: Float = 0, ta: Bool = false,
    tb: Bool = false, pad: Int = 0, threads: Int = 1, blocking: GemmBlocking = .default,
    seed: UInt64 = 1
  ) throws {
    var rng = SplitMix64(seed: seed)
    let lda = (ta ? m : k) + pad
    let ldb = (tb ? k : n) + pad
    let ldc = n + pad
    let a = rng.floats((ta ? k : m) * lda)
    let b = rng.floats((tb ? n : k) * ldb)
    var c = rng.floats(m * ldc)
    let (expected, bound) = naive(
      m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, ta: ta, b: b, ldb: ldb, tb: tb,
      beta: beta, c: c, ldc: ldc)
    let padding = c.enumerated().filter { $0.offset % ldc >= n }.map(\.element)
    try a.withUnsafeBufferPointer { a in
      try b.withUnsafeBufferPointer { b in
        try c.withUnsafeMutableBufferPointer { cb in
          try Gemm.sgemm(
            m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, transposeA: ta, b: b, ldb: ldb,
            transposeB: tb, beta: beta, c: cb, ldc: ldc,
            options: GemmOptions(threads: threads, blocking: blocking))
        }
      }
    }
    var worst = 0.0
    for i in 0..<m {
      for j in 0..<n {
        let e = abs(Double(c[i * ldc + j]) - expected[i * ldc + j])
        let tol = (Double(k) + 4) * 0x1p-24 * bound[i * ldc + j] + 1e-30
        worst = max(worst, e / tol)
      }
    }
    #expect(worst <= 1, "m=\(m) n=\(n) k=\(k) ta=\(ta) tb=\(tb) α=\(alpha) β=\(beta): \(worst)")
    let after = c.enumerated().filter { $0.offset % ldc >= n }.map(\.element)
    #expect(bitwiseEqual(padding, after), "padding columns of C were written")
  }

  @Test(arguments: [(1, 1, 1), (6, 16, 8), (7, 17, 5), (13, 31, 29), (64, 48, 70), (1, 100, 33)])
  func smallShapes(shape: (Int, Int, Int)) throws {
    for ta in [false, true] {
      for tb in [false, true] {
        try Self.check(m: shape.0, n: shape.1, k: shape.2, ta: ta, tb: tb)
      }
    }
  }

  /// Small blocks (MC = 12, KC = 16, NC = 32) so every loop of the nest runs several times and
  /// every edge appears, on 1 and 2 threads.
  @Test(arguments: [1, 2])
  func manyBlocks(threads: Int) throws {
    let blocking = GemmBlocking(mc: 12, kc: 16, nc: 32)
    try Self.check(m: 53, n: 71, k: 45, threads: threads, blocking: blocking)
    try Self.check(m: 53, n: 71, k: 45, tb: true, threads: threads, blocking: blocking)
    try Self.check(
      m: 29, n: 40, k: 33, alpha: 0.5, beta: -1.5, ta: true, pad: 3, threads: threads,
      blocking: blocking)
  }

  @Test func defaultBlocksWithEdges() throws {
    try Self.check(m: 301, n: 4100, k: 300, tb: true, threads: 2)
  }

  @Test func alphaBetaAndLeadingDimensions() throws {
    for (alpha, beta) in [(Float(1), Float(1)), (2, 0), (-0.75, 0.5), (1, -1)] {
      try Self.check(m: 19, n: 35, k: 27, alpha: alpha, beta: beta, pad: 5)
    }
  }

  /// β = 0 never reads C: NaN there must not reach the result.
  @Test func betaZeroIgnoresC() throws {
    var c = [Float](repeating: .nan, count: 7 * 9)
    try Gemm.sgemm(
      m: 7, n: 9, k: 3, a: [Float](repeating: 1, count: 21), b: [Float](repeating: 2, count: 27),
      c: &c)
    #expect(c.allSatisfy { $0 == 6 })
    // K = 0: C = β·C.
    var d = [Float](repeating: 3, count: 4)
    try Gemm.sgemm(m: 2, n: 2, k: 0, a: [], b: [], beta: 2, c: &d)
    #expect(d == [6, 6, 6, 6])
  }

  /// Bitwise identical on any thread count and blocking of the same KC.
  @Test func deterministicAcrossThreads() throws {
    var rng = SplitMix64(seed: 9)
    let (m, n, k) = (97, 130, 300)
    let a = rng.floats(m * k)
    let b = rng.floats(n * k)
    var results: [[Float]] = []
    for threads in [1, 2, 3] {
      var c = [Float](repeating: 0, count: m * n)
      try Gemm.sgemm(
        m: m, n: n, k: k, a: a, b: b, transposeB: true, c: &c,
        options: GemmOptions(threads: threads, blocking: GemmBlocking(mc: 24, kc: 64, nc: 48)))
      results.append(c)
    }
    #expect(bitwiseEqual(results[0], results[1]) && bitwiseEqual(results[0], results[2]))
  }

  @Test func validation() {
    var c = [Float](repeating: 0, count: 4)
    #expect(throws: GemmError.bufferTooSmall(matrix: "A", required: 6, actual: 4)) {
      try Gemm.sgemm(m: 2, n: 2, k: 3, a: [0, 0, 0, 0], b: [Float](repeating: 0, count: 6), c: &c)
    }
    #expect(throws: GemmError.negativeSize(field: "k", value: -1)) {
      try Gemm.sgemm(m: 2, n: 2, k: -1, a: [], b: [], c: &c)
    }
    #expect(throws: GemmError.invalidThreadCount(0)) {
      try Gemm.sgemm(
        m: 1, n: 1, k: 1, a: [1], b: [1], c: &c, options: GemmOptions(threads: 0))
    }
    let a: [Float] = [1, 2, 3, 4]
    #expect(
      throws: GemmError.leadingDimensionTooSmall(matrix: "C", leadingDimension: 1, columns: 2)
    ) {
      try a.withUnsafeBufferPointer { a in
        try c.withUnsafeMutableBufferPointer { cb in
          try Gemm.sgemm(m: 2, n: 2, k: 2, a: a, lda: 2, b: a, ldb: 2, c: cb, ldc: 1)
        }
      }
    }
  }
}
