/// Base pointers of one linear attention call (contiguous BSHD), shared read-only by workers.
struct LinearOperands: @unchecked Sendable {
  let shape: AttentionShape
  let causal: Bool
  let q: UnsafePointer<Float>
  let k: UnsafePointer<Float>
  let v: UnsafePointer<Float>
  let o: UnsafeMutablePointer<Float>
}

struct LinearScratchKey: Hashable, Sendable {
  let chunk: Int
  let dp: Int
  let dvp: Int
}

/// One worker's buffers (C = chunk, Cp = C rounded up to 8, Dp/Dvp = D/Dv rounded up to 8;
/// padding columns are always 0, so the kernels never need a tail):
/// - qf, kf: φ(Q_c), φ(K_c), C×Dp row-major
/// - kfT:    φ(K_c)ᵀ, Dp×Cp (column j of the chunk contiguous across d rows)
/// - vc:     V_c, C×Dvp
/// - a:      A = φ(Q_c)φ(K_c)ᵀ masked, C×Cp
/// - num:    C×Dvp numerators, den: C normalizers
/// - s, z:   the state S (Dp×Dvp) and z (Dp)
final class LinearScratch {
  let chunk: Int
  let cp: Int
  let dp: Int
  let dvp: Int
  let qf, kf, kfT, vc, a, num, den, s, z: UnsafeMutablePointer<Float>

  init(chunk: Int, dp: Int, dvp: Int) {
    self.chunk = chunk
    cp = (chunk + 7) / 8 * 8
    self.dp = dp
    self.dvp = dvp
    qf = alignedFloats(chunk * dp)
    kf = alignedFloats(chunk * dp)
    kfT = alignedFloats(dp * cp)
    vc = alignedFloats(chunk * dvp)
    a = alignedFloats(chunk * cp)
    num = alignedFloats(chunk * dvp)
    den = alignedFloats(chunk)
    s = alignedFloats(dp * dvp)
    z = alignedFloats(dp)
  }

  deinit {
    for p in [qf, kf, kfT, vc, a, num, den, s, z] { p.deallocate() }
  }
}

extension LinearAttention {
  /// One (batch, query head): non-causal is two passes (state over all keys, then every
  /// query chunk against it); causal is one pass of chunks, each reading the state before
  /// adding its own keys.
  static func runHead<Phi: LinearFeatureMap>(
    _ o: LinearOperands, batch b: Int, head h: Int, scratch w: LinearScratch, featureMap: Phi,
    epsilon: Float
  ) {
    let s = o.shape
    let kvh = s.kvHead(forQueryHead: h)
    let d = s.headDim
    let dv = s.valueDim
    let qRow = s.queryHeads * d
    let kRow = s.kvHeads * d
    let vRow = s.kvHeads * dv
    let oRow = s.queryHeads * dv
    let qBase = o.q + (b * s.queryLength * s.queryHeads + h) * d
    let kBase = o.k + (b * s.keyLength * s.kvHeads + kvh) * d
    let vBase = o.v + (b * s.keyLength * s.kvHeads + kvh) * dv
    let oBase = o.o + (b * s.queryLength * s.queryHeads + h) * dv
    w.s.update(repeating: 0, count: w.dp * w.dvp)
    w.z.update(repeating: 0, count: w.dp)

    func loadKeys(_ j0: Int, _ rows: Int) {
      loadFeatures(
        kBase + j0 * kRow, stride: kRow, rows: rows, dim: d, into: w.kf, w.dp, featureMap)
      loadRows(vBase + j0 * vRow, stride: vRow, rows: rows, dim: dv, into: w.vc, w.dvp)
    }
    func addKeysToState(_ rows: Int) {
      // S += φ(K_c)ᵀ V_c: left(i = d, k = j) = kf[j·Dp + d].
      productTile(
        left: w.kf, rowStride: 1, depthStride: w.dp, rows: w.dp, depth: rows, triangular: false,
        right: w.vc, rightStride: w.dvp, columns: w.dvp, out: w.s, outStride: w.dvp,
        accumulate: true)
      columnSums(w.kf, rows: rows, columns: w.dp, into: w.z)
    }
    func queryState(_ rows: Int) {
      // num = φ(Q_c)·S, den = φ(Q_c)·z
      productTile(
        left: w.qf, rowStride: w.dp, depthStride: 1, rows: rows, depth: w.dp, triangular: false,
        right: w.s, rightStride: w.dvp, columns: w.dvp, out: w.num, outStride: w.dvp,
        accumulate: false)
      rowDots(w.qf, rows: rows, columns: w.dp, with: w.z, into: w.den)
    }
    func store(_ i0: Int, _ rows: Int) {
      writeOutput(
        num: w.num, den: w.den, numStride: w.dvp, rows: rows, dim: dv, epsilon: epsilon,
        out: oBase + i0 * oRow, outStride: oRow)
    }

    if !o.causal {
      var j0 = 0
      while j0 < s.keyLength {
        let rows = min(w.chunk, s.keyLength - j0)
        loadKeys(j0, rows)
        addKeysToState(rows)
        j0 += rows
      }
      var i0 = 0
      while i0 < s.queryLength {
        let rows = min(w.chunk, s.queryLength - i0)
        loadFeatures(
          qBase + i0 * qRow, stride: qRow, rows: rows, dim: d, into: w.qf, w.dp, featureMap)
        queryState(rows)
        store(i0, rows)
        i0 += rows
      }
      return
    }

    var c0 = 0
    while c0 < s.queryLength {
      let rows = min(w.chunk, s.queryLength - c0)
      loadFeatures(
        qBase + c0 * qRow, stride: qRow, rows: rows, dim: d, into: w.qf, w.dp, featureMap)
      loadKeys(c0, rows)
      // Inter-chunk part against the state of chunks < c.
      queryState(rows)
      // Intra-chunk part: A = φ(Q_c)·φ(K_c)ᵀ, lower triangle (j ≤ i), then num += A·V_c.
      transpose(w.kf, rows: rows, columns: w.dp, into: w.kfT, stride: w.cp)
      let cols = (rows + 7) / 8 * 8
      productTile(
        left: w.qf, rowStride: w.dp, depthStride: 1, rows: rows, depth: w.dp, triangular: false,
        right: w.kfT, rightStride: w.cp, columns: cols, out: w.a, outStride: w.cp,
        accumulate: false)
      maskUpperAndSum(w.a, rows: rows, stride: w.cp, columns: cols, into: w.den)
      productTile(
        left: w.a, rowStride: w.cp, depthStride: 1, rows: rows, depth: rows, triangular: true,
        right: w.vc, rightStride: w.dvp, columns: w.dvp, out: w.num, outStride: w.dvp,
        accumulate: true)
      store(c0, rows)
      addKeysToState(rows)
      c0 += rows
    }
  }

  /// dst[r][0..<dim] = φ(src[r·stride ..< +dim]), dst[r][dim..<dp] = 0.
  @inline(__always)
  static func loadFeatures<Phi: LinearFeatureMap>(
    _ src: UnsafePointer<Float>, stride: Int, rows: Int, dim: Int,
    into dst: UnsafeMutablePointer<Float>, _ dp: Int, _ phi: Phi
  ) {
    loadRows(src, stride: stride, rows: rows, dim: dim, into: dst, dp)
    let raw = UnsafeMutableRawPointer(dst)
    for r in 0..<rows {
      var x = r &* dp &* 4
      let end = x &+ dp &* 4
      while x < end {
        raw.storeBytes(
          of: phi(raw.loadUnaligned(fromByteOffset: x, as: Vec.self)), toByteOffset: x, as: Vec.self
        )
        x &+= 32
      }
      let row = dst + r &* dp
      for c in dim..<dp { row[c] = 0 }
    }
  }

  /// dst[r][0..<dim] = src rows, zero-padded to `dp` columns.
  @inline(never)
  static func loadRows(
    _ src: UnsafePointer<Float>, stride: Int, rows: Int, dim: Int,
    into dst: UnsafeMutablePointer<Float>, _ dp: Int
  ) {
    for r in 0..<rows {
      let s = src + r &* stride
      let t = dst + r &* dp
      t.update(from: s, count: dim)
      for c in dim..<dp { t[c] = 0 }
    }
  }

  /// out[i][e] (+)= Σ_k left[i·rowStride + k·depthStride] · right[k·rightStride + e] for
  /// i < rows, e < columns (a multiple of 8), k < depth — or k ≤ i when `triangular` (A·V with
  /// A lower triangular; A's upper part is 0, so a 4-row block may read to its last row).
  ///
  /// Micro-tile 4 rows × 16 columns: 8 accumulators, 2 vector loads of `right` and 4
  /// broadcasts of `left` per k (the 4×8 tail for the last 8 columns). Rows past `rows` are
  /// clamped to the last row (computed twice, stored once).
  @inline(never)
  static func productTile(
    left: UnsafePointer<Float>, rowStride: Int, depthStride: Int, rows: Int, depth: Int,
    triangular: Bool, right: UnsafePointer<Float>, rightStride: Int, columns: Int,
    out: UnsafeMutablePointer<Float>, outStride: Int, accumulate: Bool
  ) {
    let last = rows &- 1
    var i0 = 0
    while i0 < rows {
      let l0 = left + i0 &* rowStride
      let l1 = left + min(i0 &+ 1, last) &* rowStride
      let l2 = left + min(i0 &+ 2, last) &* rowStride
      let l3 = left + min(i0 &+ 3, last) &* rowStride
      let kEnd = triangular ? min(depth, i0 &+ 4) : depth
      let valid = min(4, rows &- i0)
      var e0 = 0
      while e0 < columns {
        let wide = columns &- e0 >= 16
        var c00 = Vec(), c01 = Vec(), c10 = Vec(), c11 = Vec()
        var c20 = Vec(), c21 = Vec(), c30 = Vec(), c31 = Vec()
        var r = UnsafeRawPointer(right + e0)
        let rStep = rightStride &* 4
        var kk = 0
        var lo = 0
        if wide {
          while kk < kEnd {
            let b0 = r.loadUnaligned(as: Vec.self)
            let b1 = r.loadUnaligned(fromByteOffset: 32, as: Vec.self)
            var x = Vec(repeating: l0[lo])
            c00 = fma(x, b0, c00)
            c01 = fma(x, b1, c01)
            x = Vec(repeating: l1[lo])
            c10 = fma(x, b0, c10)
            c11 = fma(x, b1, c11)
            x = Vec(repeating: l2[lo])
            c20 = fma(x, b0, c20)
            c21 = fma(x, b1, c21)
            x = Vec(repeating: l3[lo])
            c30 = fma(x, b0, c30)
            c31 = fma(x, b1, c31)
            r += rStep
            lo &+= depthStride
            kk &+= 1
          }
        } else {
          while kk < kEnd {
            let b0 = r.loadUnaligned(as: Vec.self)
            c00 = fma(Vec(repeating: l0[lo]), b0, c00)
            c10 = fma(Vec(repeating: l1[lo]), b0, c10)
            c20 = fma(Vec(repeating: l2[lo]), b0, c20)
            c30 = fma(Vec(repeating: l3[lo]), b0, c30)
            r += rStep
            lo &+= depthStride
            kk &+= 1
          }
        }
        @inline(__always) func store(_ v: Int, _ a0: Vec, _ a1: Vec) {
          let o = UnsafeMutableRawPointer(out + ((i0 &+ v) &* outStride &+ e0))
          var x0 = a0
          var x1 = a1
          if accumulate {
            x0 += UnsafeRawPointer(o).loadUnaligned(as: Vec.self)
            if wide { x1 += UnsafeRawPointer(o).loadUnaligned(fromByteOffset: 32, as: Vec.self) }
          }
          o.storeBytes(of: x0, as: Vec.self)
          if wide { o.storeBytes(of: x1, toByteOffset: 32, as: Vec.self) }
        }
        store(0, c00, c01)
        if valid > 1 { store(1, c10, c11) }
        if valid > 2 { store(2, c20, c21) }
        if valid > 3 { store(3, c30, c31) }
        e0 &+= wide ? 16 : 8
      }
      i0 &+= 4
    }
  }

  /// z[c] += Σ_r m[r][c] (columns a multiple of 8).
  @inline(never)
  static func columnSums(
    _ m: UnsafePointer<Float>, rows: Int, columns: Int, into z: UnsafeMutablePointer<Float>
  ) {
    let raw = UnsafeRawPointer(m)
    let zr = UnsafeMutableRawPointer(z)
    var c = 0
    while c < columns {
      var acc = zr.loadUnaligned(fromByteOffset: c &* 4, as: Vec.self)
      for r in 0..<rows {
        acc += raw.loadUnaligned(fromByteOffset: (r &* columns &+ c) &* 4, as: Vec.self)
      }
      zr.storeBytes(of: acc, toByteOffset: c &* 4, as: Vec.self)
      c &+= 8
    }
  }

  /// out[r] = m[r]·z (columns a multiple of 8).
  @inline(never)
  static func rowDots(
    _ m: UnsafePointer<Float>, rows: Int, columns: Int, with z: UnsafePointer<Float>,
    into out: UnsafeMutablePointer<Float>
  ) {
    let raw = UnsafeRawPointer(m)
    let zr = UnsafeRawPointer(z)
    for r in 0..<rows {
      var acc = Vec()
      var c = 0
      while c < columns {
        acc = fma(
          raw.loadUnaligned(fromByteOffset: (r &* columns &+ c) &* 4, as: Vec.self),
          zr.loadUnaligned(fromByteOffset: c &* 4, as: Vec.self), acc)
        c &+= 8
      }
      out[r] = acc.sum()
    }
  }

  /// t[c][r] = m[r][c] for r < rows (t's columns rows..<stride are set to 0).
  @inline(never)
  static func transpose(
    _ m: UnsafePointer<Float>, rows: Int, columns: Int, into t: UnsafeMutablePointer<Float>,
    stride: Int
  ) {
    for c in 0..<columns {
      let row = t + c &* stride
      for r in 0..<rows { row[r] = m[r &* columns &+ c] }
      for r in rows..<stride { row[r] = 0 }
    }
  }

  /// Zeroes a[i][j] for j > i and adds each row's sum to den[i].
  @inline(never)
  static func maskUpperAndSum(
    _ a: UnsafeMutablePointer<Float>, rows: Int, stride: Int, columns: Int,
    into den: UnsafeMutablePointer<Float>
  ) {
    for i in 0..<rows {
      let row = a + i &* stride
      var sum: Float = 0
      for j in 0...i { sum += row[j] }
      for j in (i &+ 1)..<max(i &+ 1, columns) { row[j] = 0 }
      den[i] += sum
    }
  }

  /// out[r][0..<dim] = num[r][0..<dim] / (den[r] + ε).
  @inline(never)
  static func writeOutput(
    num: UnsafePointer<Float>, den: UnsafePointer<Float>, numStride: Int, rows: Int, dim: Int,
    epsilon: Float, out: UnsafeMutablePointer<Float>, outStride: Int
  ) {
    for r in 0..<rows {
      let inv = 1 / (den[r] + epsilon)
      let src = num + r &* numStride
      let dst = out + r &* outStride
      var c = 0
      let scale = Vec(repeating: inv)
      while c &+ 8 <= dim {
        UnsafeMutableRawPointer(dst + c).storeBytes(
          of: UnsafeRawPointer(src + c).loadUnaligned(as: Vec.self) * scale, as: Vec.self)
        c &+= 8
      }
      while c < dim {
        dst[c] = src[c] * inv
        c &+= 1
      }
    }
  }
}
