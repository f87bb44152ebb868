/// Packing of A and B into the micro-kernel's panel layouts.
///
/// Ã (an mc×kc block of op(A)): ⌈mc/6⌉ micro-panels, each kc×6, k-major:
///     Ã[(p·kc + k)·6 + r] = op(A)[i0 + 6p + r, k0 + k]        rows past M are 0
/// B̃ (a kc×nc panel of op(B)): ⌈nc/16⌉ micro-panels, each kc×16, k-major:
///     B̃[(q·kc + k)·16 + c] = op(B)[k0 + k, j0 + 16q + c]      columns past N are 0
/// so the micro-kernel reads both with unit stride, 6 (resp. 16) floats per step of k.
extension Gemm {
  /// Packs rows `i0..<i0+rows` × depth `k0..<k0+kc` of op(A) into `dst`.
  @inline(never)
  static func packA(
    _ o: GemmOperands, i0: Int, rows: Int, k0: Int, kc: Int, dst: UnsafeMutablePointer<Float>
  ) {
    let mr = GemmBlocking.mr
    var p = 0
    var out = dst
    while p < rows {
      let r = min(mr, rows &- p)
      if o.transposeA {
        // op(A)[i][k] = a[k·lda + i]: each step of k reads r contiguous floats.
        var src = o.a + (k0 &* o.lda &+ i0 &+ p)
        for _ in 0..<kc {
          for x in 0..<r { out[x] = src[x] }
          for x in r..<mr { out[x] = 0 }
          out += mr
          src += o.lda
        }
      } else {
        // Rows are contiguous in k: gather one float from each of r rows per step.
        let base = o.a + ((i0 &+ p) &* o.lda &+ k0)
        let lda = o.lda
        if r == mr {
          let a0 = base, a1 = base + lda, a2 = base + 2 &* lda
          let a3 = base + 3 &* lda, a4 = base + 4 &* lda, a5 = base + 5 &* lda
          for k in 0..<kc {
            out[0] = a0[k]
            out[1] = a1[k]
            out[2] = a2[k]
            out[3] = a3[k]
            out[4] = a4[k]
            out[5] = a5[k]
            out += mr
          }
        } else {
          for k in 0..<kc {
            for x in 0..<r { out[x] = base[x &* lda &+ k] }
            for x in r..<mr { out[x] = 0 }
            out += mr
          }
        }
      }
      p &+= mr
    }
  }

  /// Packs the 16-column micro-panels `q0..<q1` of op(B)'s panel starting at column `j0`
  /// (width `cols`), depth `k0..<k0+kc`, into `dst` (the whole panel's buffer).
  @inline(never)
  static func packB(
    _ o: GemmOperands, j0: Int, cols: Int, k0: Int, kc: Int, panels q0: Int, _ q1: Int,
    dst: UnsafeMutablePointer<Float>
  ) {
    let nr = GemmBlocking.nr
    for q in q0..<q1 {
      let c0 = q &* nr
      let w = min(nr, cols &- c0)
      var out = UnsafeMutableRawPointer(dst + q &* kc &* nr)
      if o.transposeB {
        // op(B)[k][j] = b[j·ldb + k]: 16 rows of B (a weight's output rows), each contiguous
        // in k; each row is read sequentially and scattered into its column of the panel.
        // Every element of B is packed once per multiply, so this is O(K·N) against the
        // O(M·N·K) of the kernel.
        let base = o.b + ((j0 &+ c0) &* o.ldb &+ k0)
        let ldb = o.ldb
        let floats = out.assumingMemoryBound(to: Float.self)
        for c in 0..<w {
          let row = base + c &* ldb
          var dstc = floats + c
          for k in 0..<kc {
            dstc.pointee = row[k]
            dstc += nr
          }
        }
        if w < nr {
          for k in 0..<kc {
            for c in w..<nr { floats[k &* nr &+ c] = 0 }
          }
        }
      } else {
        var src = o.b + (k0 &* o.ldb &+ j0 &+ c0)
        if w == nr {
          for _ in 0..<kc {
            let raw = UnsafeRawPointer(src)
            out.storeBytes(of: raw.loadUnaligned(as: Vec.self), as: Vec.self)
            out.storeBytes(
              of: raw.loadUnaligned(fromByteOffset: 32, as: Vec.self), toByteOffset: 32,
              as: Vec.self)
            out += 64
            src += o.ldb
          }
        } else {
          let floats = out.assumingMemoryBound(to: Float.self)
          for k in 0..<kc {
            let row = floats + k &* nr
            for c in 0..<w { row[c] = src[c] }
            for c in w..<nr { row[c] = 0 }
            src += o.ldb
          }
        }
      }
    }
  }
}
