/// Per-thread working memory of the decode kernel, allocated once per worker slot and shape and
/// first touched by the worker bound to the slot's node. Layouts (floats, row-major):
///
///     qHat    [R][Dp]     pre-scaled queries, zero-padded from D to Dp = ⌈D/8⌉·8
///     kTile   [Bk][Dp]    widened / gathered key rows (unused for in-place Float32 tiles)
///     vTile   [Bk][Dvp]   widened / gathered value rows
///     scores  [R][Bk]     S, then P (Bk is a multiple of 8)
///     acc     [R][Dvp]    unnormalized output; reused for the merged rows of a group
///     m, l, alpha, merged LSE, sinks, slopes, diagonal: [R]
///     rowStart, rowEnd:   [R] visible key range of each row
///
/// Bk = 32: a widened K and V tile of 32 rows × 128 floats is 2 × 16 KiB, about the 32 KiB L1D
/// of Zen 3, and S of R ≤ 32 rows × 32 keys is 4 KiB more (L2 holds the rest).
final class DecodeScratch {
  static let keyTile = 32

  struct Key: Hashable, Sendable {
    let rows: Int
    let depth: Int
    let valueDepth: Int
  }

  let key: Key
  let qHat: UnsafeMutablePointer<Float>
  let kTile: UnsafeMutablePointer<Float>
  let vTile: UnsafeMutablePointer<Float>
  let scores: UnsafeMutablePointer<Float>
  let acc: UnsafeMutablePointer<Float>
  let rowMax: UnsafeMutablePointer<Float>
  let rowSum: UnsafeMutablePointer<Float>
  let alpha: UnsafeMutablePointer<Float>
  let mergedLSE: UnsafeMutablePointer<Float>
  let sinks: UnsafeMutablePointer<Float>
  let slopes2: UnsafeMutablePointer<Float>
  let diagonal: UnsafeMutablePointer<Float>
  let rowStart: UnsafeMutablePointer<Int>
  let rowEnd: UnsafeMutablePointer<Int>

  init(_ key: Key) {
    self.key = key
    let r = key.rows
    let bk = Self.keyTile
    func floats(_ n: Int) -> UnsafeMutablePointer<Float> {
      let p = UnsafeMutablePointer<Float>.allocate(capacity: max(8, n))
      p.initialize(repeating: 0, count: max(8, n))
      return p
    }
    qHat = floats(r * key.depth)
    kTile = floats(bk * key.depth)
    vTile = floats(bk * key.valueDepth)
    scores = floats(r * bk)
    acc = floats(r * key.valueDepth)
    rowMax = floats(r)
    rowSum = floats(r)
    alpha = floats(r)
    mergedLSE = floats(r)
    sinks = floats(r)
    slopes2 = floats(r)
    diagonal = floats(r)
    rowStart = .allocate(capacity: r)
    rowStart.initialize(repeating: 0, count: r)
    rowEnd = .allocate(capacity: r)
    rowEnd.initialize(repeating: 0, count: r)
  }

  deinit {
    for p in [
      qHat, kTile, vTile, scores, acc, rowMax, rowSum, alpha, mergedLSE, sinks, slopes2, diagonal,
    ] {
      p.deallocate()
    }
    rowStart.deallocate()
    rowEnd.deallocate()
  }
}
