/// Per-thread working memory of the decode kernel, allocated once per worker slot and shape and
/// first touched by the worker bound to the slot's node. Layouts (floats, row-major):
///
///     qHat    [R][Dp]     pre-scaled queries, zero-padded from D to Dp = ⌈D/8⌉·8
///     kTile   [Bk][Dp]    widened / gathered key rows (unused for in-place Float32 tiles)
///     vTile   [Bk][Dvp]   widened / gathered value rows
///     scores  [R][Bk+8]   S, then P (Bk is a multiple of 8)
///     pairs   [Bk/2][8]   4-row score blocks before their transpose into `scores`
///     acc     [R][Dvp]    unnormalized output; reused for the merged rows of a group
///     m, l, alpha, merged LSE, sinks, slopes, diagonal: [R]
///     rowStart, rowEnd:   [R] visible key range of each row
///
/// Bk = 32: a Float16 tile read in place is 2 × 8 KiB of K and V rows at D = 128. The V rows
/// are prefetched during the scores and the next tile's K rows during P·V, so while P·V runs
/// L1 (32 KiB) holds this V tile, the next K tile and the small buffers (~29 KiB). At Bk = 64
/// that is ~37 KiB: the V rows of the 8 passes and the arriving K rows evict each other.
/// Measured (same binary, key tile from a temporary switch, 1 thread, B=1, 32/8 heads, 32768
/// fp16 tokens, best of 20 calls, 4 interleaved rounds): 38.3 ns per key at 32 against 42.2 at
/// 64 (48: 39.9, 16: 39.9); with the tiles kept in L1 (one tile re-read) 64 is 1 ns faster
/// (per-tile costs paid half as often). 2 threads, B=4 (4 interleaved rounds, noisy machine):
/// median 66 % of the same run's triad at 32 against 50 % at 64. Widened tiles (BFloat16,
/// padded dims) are 2 × 16 KiB at D = 128.
final class DecodeScratch {
  static let keyTile = 32
  /// Row stride of S: a tile computed run by run (`DecodeKernel.runsTile`) stores each run's
  /// last group of 8 keys whole, up to 7 columns past the tile.
  static let scoreStride = keyTile + 8

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
  let pairs: UnsafeMutablePointer<Float>
  let acc: UnsafeMutablePointer<Float>
  let rowMax: UnsafeMutablePointer<Float>
  let rowSum: UnsafeMutablePointer<Float>
  let alpha: UnsafeMutablePointer<Float>
  /// [R] ones: the alphas of a tile's later runs (`DecodeKernel.runsTile`).
  let ones: UnsafeMutablePointer<Float>
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
    scores = floats(r * Self.scoreStride)
    pairs = floats(4 * bk)
    acc = floats(r * key.valueDepth)
    rowMax = floats(r)
    rowSum = floats(r)
    alpha = floats(r)
    ones = floats(r)
    ones.update(repeating: 1, count: max(8, r))
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
      qHat, kTile, vTile, scores, pairs, acc, rowMax, rowSum, alpha, ones, mergedLSE, sinks,
      slopes2,
      diagonal,
    ] {
      p.deallocate()
    }
    rowStart.deallocate()
    rowEnd.deallocate()
  }
}
