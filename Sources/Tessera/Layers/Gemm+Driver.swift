import Foundation

/// Base pointers, strides and scalars of one multiply, shared read-only by every worker.
struct GemmOperands: @unchecked Sendable {
  let a: UnsafePointer<Float>
  let lda: Int
  let transposeA: Bool
  let b: UnsafePointer<Float>
  let ldb: Int
  let transposeB: Bool
  let c: UnsafeMutablePointer<Float>
  let ldc: Int
  let m: Int
  let n: Int
  let k: Int
  let alpha: Float
  let beta: Float
}

/// A worker's packed Ã block (MC×KC floats, 64-byte aligned), kept in its slot across calls.
final class GemmScratch {
  let a: UnsafeMutablePointer<Float>
  /// One 6×16 tile for the edges of C (partial micro-tiles are computed here, then copied).
  let tile: UnsafeMutablePointer<Float>

  init(blocking: GemmBlocking) {
    a = alignedFloats(blocking.mc * blocking.kc)
    tile = alignedFloats(GemmBlocking.mr * GemmBlocking.nr)
  }

  deinit {
    a.deallocate()
    tile.deallocate()
  }
}

/// `count` floats at a 64-byte (cache line) boundary.
func alignedFloats(_ count: Int) -> UnsafeMutablePointer<Float> {
  UnsafeMutableRawPointer.allocate(byteCount: max(1, count) * 4, alignment: 64)
    .bindMemory(to: Float.self, capacity: max(1, count))
}

extension Gemm {
  /// The blocked loop nest (see `GemmBlocking`). For each (NC panel, KC slice): the panel B̃
  /// is packed once (in parallel over its micro-panels) and shared; then the C blocks of the
  /// panel are computed in parallel, each item an (MC row block, column chunk) of C that packs
  /// its own Ã. Column chunks are the whole panel when there are enough row blocks to keep
  /// every thread busy (no Ã is packed twice), and split otherwise (short M: decode steps).
  static func run(_ o: GemmOperands, options: GemmOptions) {
    let blocking = options.blocking
    let nr = GemmBlocking.nr
    let threads = options.threads
    let panelWidth = min(blocking.nc, (o.n + nr - 1) / nr * nr)
    let depth = min(blocking.kc, o.k)
    let bPacked = alignedFloats(depth * panelWidth)
    defer { bPacked.deallocate() }
    let bBox = UncheckedBox(bPacked)
    let key = ScratchKey(blocking: blocking)

    var j0 = 0
    while j0 < o.n {
      let cols = min(blocking.nc, o.n - j0)
      let panels = (cols + nr - 1) / nr
      var k0 = 0
      while k0 < o.k {
        let kc = min(blocking.kc, o.k - k0)
        let beta: Float = k0 == 0 ? o.beta : 1
        // Pack B̃: items of 8 micro-panels.
        let packItems = (panels + 7) / 8
        let (jj, kk) = (j0, k0)
        LayerParallel.run(
          items: packItems, threads: threads, cost: Double(kc * cols) * 64,
          runtime: options.runtime
        ) { item, _ in
          let q0 = item * 8
          packB(
            o, j0: jj, cols: cols, k0: kk, kc: kc, panels: q0, min(panels, q0 + 8),
            dst: bBox.value)
        }
        // Compute C blocks.
        let rowBlocks = (o.m + blocking.mc - 1) / blocking.mc
        let chunks = max(1, min(panels, (2 * threads + rowBlocks - 1) / rowBlocks))
        let panelsPerChunk = (panels + chunks - 1) / chunks
        let chunkCount = (panels + panelsPerChunk - 1) / panelsPerChunk
        LayerParallel.run(
          items: rowBlocks * chunkCount, threads: threads,
          cost: flops(m: o.m, n: cols, k: kc), runtime: options.runtime
        ) { item, worker in
          let scratch = worker.scratch(key) { GemmScratch(blocking: blocking) }
          let i0 = (item / chunkCount) * blocking.mc
          let rows = min(blocking.mc, o.m - i0)
          let q0 = (item % chunkCount) * panelsPerChunk
          let q1 = min(panels, q0 + panelsPerChunk)
          packA(o, i0: i0, rows: rows, k0: kk, kc: kc, dst: scratch.a)
          macroKernel(
            o, i0: i0, rows: rows, j0: jj, cols: cols, panels: q0, q1, kc: kc, beta: beta,
            aPacked: scratch.a, bPacked: bBox.value, tile: scratch.tile)
        }
        k0 += kc
      }
      j0 += cols
    }
  }

  /// One C block: micro-panels `q0..<q1` of B̃ against every micro-panel of Ã (jr outer, ir
  /// inner, so a B̃ micro-panel stays in L1 while the Ã block streams from L2).
  @inline(never)
  static func macroKernel(
    _ o: GemmOperands, i0: Int, rows: Int, j0: Int, cols: Int, panels q0: Int, _ q1: Int,
    kc: Int, beta: Float, aPacked: UnsafeMutablePointer<Float>,
    bPacked: UnsafeMutablePointer<Float>, tile: UnsafeMutablePointer<Float>
  ) {
    let mr = GemmBlocking.mr
    let nr = GemmBlocking.nr
    for q in q0..<q1 {
      let c0 = q &* nr
      let w = min(nr, cols &- c0)
      let bp = bPacked + q &* kc &* nr
      var p = 0
      while p < rows {
        let h = min(mr, rows &- p)
        let ap = aPacked + p &* kc
        let cp = o.c + ((i0 &+ p) &* o.ldc &+ j0 &+ c0)
        if h == mr && w == nr {
          microKernel6x16(kc: kc, a: ap, b: bp, c: cp, ldc: o.ldc, alpha: o.alpha, beta: beta)
        } else {
          // Edge: full tile into scratch, then α·tile + β·C on the valid h×w part.
          microKernel6x16(kc: kc, a: ap, b: bp, c: tile, ldc: nr, alpha: o.alpha, beta: 0)
          for r in 0..<h {
            let dst = cp + r &* o.ldc
            let src = tile + r &* nr
            if beta == 0 {
              for x in 0..<w { dst[x] = src[x] }
            } else {
              for x in 0..<w { dst[x] = src[x] + beta * dst[x] }
            }
          }
        }
        p &+= mr
      }
    }
  }

  struct ScratchKey: Hashable, Sendable {
    let blocking: GemmBlocking
  }
}
