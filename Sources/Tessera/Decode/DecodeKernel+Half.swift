extension DecodeKernel {
  /// Whether a tile can be computed straight from a Float16 cache (no widening pass): rows in
  /// blocks of 4, head dims already multiples of 8, and the tile one contiguous run of rows.
  /// The arithmetic is the Float32 path's, op for op (Float16 → Float32 is exact), so both give
  /// the same bits: a paged tile that crosses a block takes the widening path and matches.
  static func halfTileEligible(_ ops: DecodeOperands, rows: Int, first: Int, count: Int) -> Bool {
    let map = ops.map
    return map.scalarType == .float16 && rows % 4 == 0 && ops.headDim == ops.depth
      && ops.valueDim == ops.valueDepth
      && first / map.blockRows == (first + count - 1) / map.blockRows
  }

  /// `scores` over Float16 key rows (`strideBytes` apart), converted in registers.
  @inline(never)
  static func scoresHalf(
    queries: UnsafePointer<Float>, rows: Int, depth: Int, keys: UnsafeRawPointer,
    strideBytes: Int, keyCount: Int, scores: UnsafeMutablePointer<Float>, scoreStride: Int
  ) {
    let depthBytes = depth &* 4
    var r0 = 0
    while r0 < rows {
      let q0 = UnsafeRawPointer(queries + r0 &* depth)
      let q1 = q0 + depthBytes
      let q2 = q1 + depthBytes
      let q3 = q2 + depthBytes
      let out = scores + r0 &* scoreStride
      var j = 0
      while j < keyCount {
        let k0 = keys + j &* strideBytes
        let k1 = j &+ 1 < keyCount ? k0 + strideBytes : k0
        var a00 = Vec(), a01 = Vec(), a10 = Vec(), a11 = Vec()
        var a20 = Vec(), a21 = Vec(), a30 = Vec(), a31 = Vec()
        var off = 0
        var half = 0
        while off < depthBytes {
          let x0 = Vec(k0.loadUnaligned(fromByteOffset: half, as: SIMD8<Float16>.self))
          let x1 = Vec(k1.loadUnaligned(fromByteOffset: half, as: SIMD8<Float16>.self))
          let y0 = q0.loadUnaligned(fromByteOffset: off, as: Vec.self)
          a00 = fma(y0, x0, a00)
          a01 = fma(y0, x1, a01)
          let y1 = q1.loadUnaligned(fromByteOffset: off, as: Vec.self)
          a10 = fma(y1, x0, a10)
          a11 = fma(y1, x1, a11)
          let y2 = q2.loadUnaligned(fromByteOffset: off, as: Vec.self)
          a20 = fma(y2, x0, a20)
          a21 = fma(y2, x1, a21)
          let y3 = q3.loadUnaligned(fromByteOffset: off, as: Vec.self)
          a30 = fma(y3, x0, a30)
          a31 = fma(y3, x1, a31)
          off &+= 32
          half &+= 16
        }
        let s = reduce8(a00, a01, a10, a11, a20, a21, a30, a31)
        out[j] = s[0]
        out[scoreStride &+ j] = s[2]
        out[2 &* scoreStride &+ j] = s[4]
        out[3 &* scoreStride &+ j] = s[6]
        if j &+ 1 < keyCount {
          out[j &+ 1] = s[1]
          out[scoreStride &+ j &+ 1] = s[3]
          out[2 &* scoreStride &+ j &+ 1] = s[5]
          out[3 &* scoreStride &+ j &+ 1] = s[7]
        }
        j &+= 2
      }
      r0 &+= 4
    }
  }

  /// `accumulate` over Float16 value rows (`strideBytes` apart), converted in registers; the
  /// same blocks and order as `accumulateFourRows`.
  @inline(never)
  static func accumulateHalf(
    probabilities: UnsafePointer<Float>, rows: Int, scoreStride: Int, keyCount: Int,
    values: UnsafeRawPointer, strideBytes: Int, paddedValueDim: Int,
    alpha: UnsafePointer<Float>, acc: UnsafeMutablePointer<Float>
  ) {
    let rowBytes = paddedValueDim &* 4
    var r0 = 0
    while r0 < rows {
      let p = probabilities + r0 &* scoreStride
      let p1 = p + scoreStride
      let p2 = p1 + scoreStride
      let p3 = p2 + scoreStride
      let a0 = Vec(repeating: alpha[r0])
      let a1 = Vec(repeating: alpha[r0 &+ 1])
      let a2 = Vec(repeating: alpha[r0 &+ 2])
      let a3 = Vec(repeating: alpha[r0 &+ 3])
      let out = UnsafeMutableRawPointer(acc + r0 &* paddedValueDim)
      var d = 0
      while d < paddedValueDim {
        let offset = d &* 4
        let second = d &+ 16 <= paddedValueDim ? 32 : 0
        let secondHalf = second / 2
        var o00 = out.loadUnaligned(fromByteOffset: offset, as: Vec.self) * a0
        var o01 = out.loadUnaligned(fromByteOffset: offset &+ second, as: Vec.self) * a0
        var o10 = out.loadUnaligned(fromByteOffset: rowBytes &+ offset, as: Vec.self) * a1
        var o11 =
          out.loadUnaligned(fromByteOffset: rowBytes &+ offset &+ second, as: Vec.self) * a1
        var o20 = out.loadUnaligned(fromByteOffset: 2 &* rowBytes &+ offset, as: Vec.self) * a2
        var o21 =
          out.loadUnaligned(fromByteOffset: 2 &* rowBytes &+ offset &+ second, as: Vec.self) * a2
        var o30 = out.loadUnaligned(fromByteOffset: 3 &* rowBytes &+ offset, as: Vec.self) * a3
        var o31 =
          out.loadUnaligned(fromByteOffset: 3 &* rowBytes &+ offset &+ second, as: Vec.self) * a3
        var v = values + d &* 2
        for c in 0..<keyCount {
          let x0 = Vec(v.loadUnaligned(as: SIMD8<Float16>.self))
          let x1 = Vec(v.loadUnaligned(fromByteOffset: secondHalf, as: SIMD8<Float16>.self))
          let w0 = Vec(repeating: p[c])
          o00 = fma(w0, x0, o00)
          o01 = fma(w0, x1, o01)
          let w1 = Vec(repeating: p1[c])
          o10 = fma(w1, x0, o10)
          o11 = fma(w1, x1, o11)
          let w2 = Vec(repeating: p2[c])
          o20 = fma(w2, x0, o20)
          o21 = fma(w2, x1, o21)
          let w3 = Vec(repeating: p3[c])
          o30 = fma(w3, x0, o30)
          o31 = fma(w3, x1, o31)
          v += strideBytes
        }
        out.storeBytes(of: o00, toByteOffset: offset, as: Vec.self)
        out.storeBytes(of: o10, toByteOffset: rowBytes &+ offset, as: Vec.self)
        out.storeBytes(of: o20, toByteOffset: 2 &* rowBytes &+ offset, as: Vec.self)
        out.storeBytes(of: o30, toByteOffset: 3 &* rowBytes &+ offset, as: Vec.self)
        if second != 0 {
          out.storeBytes(of: o01, toByteOffset: offset &+ 32, as: Vec.self)
          out.storeBytes(of: o11, toByteOffset: rowBytes &+ offset &+ 32, as: Vec.self)
          out.storeBytes(of: o21, toByteOffset: 2 &* rowBytes &+ offset &+ 32, as: Vec.self)
          out.storeBytes(of: o31, toByteOffset: 3 &* rowBytes &+ offset &+ 32, as: Vec.self)
          d &+= 16
        } else {
          d &+= 8
        }
      }
      r0 &+= 4
    }
  }
}
