/// Per-thread working memory of the flash kernel, allocated once per thread and reused for every
/// work item. Its size depends on the tile config and head dims only, never on Sq or Skv.
///
/// Layouts (Br = paddedQueryTile, Bc = paddedKeyTile, floats, 64-byte aligned):
/// - `qPacked`: [Br/24][D][24]: Q_i in micro-panels, pre-scaled by scale·log2(e); rows past
///   the end of the sequence are zero.
/// - `scores`:  [Bc][Br]: Sᵀ, overwritten in place by Pᵀ.
/// - `accT`:    [Dv rounded up to 4][Br]: the unnormalized output, transposed.
/// - `rowMax`, `rowSum`, `alpha`: [Br]: m, l and exp2(m_old − m_new) per query row (log2 units).
/// - `keyEnd`, `keyStart`: [Br] Int32: visible key range per query row, for diagonal tiles.
/// - `diagonal`: [Br]: key position of each query row, for ALiBi.
/// - `kTile`: [Bc][D]: K_j widened to Float when stored narrower (Float32 K is read in place).
/// - `vTile`: [Dv/4][Bc][4]: V_j re-blocked (and widened) for the P·V micro-kernel.
public final class FlashScratch: @unchecked Sendable {
  public let config: TileConfig
  public let headDim: Int
  public let valueDim: Int
  let paddedValueDim: Int
  let qPacked: UnsafeMutablePointer<Float>
  let scores: UnsafeMutablePointer<Float>
  let accT: UnsafeMutablePointer<Float>
  let rowMax: UnsafeMutablePointer<Float>
  let rowSum: UnsafeMutablePointer<Float>
  let alpha: UnsafeMutablePointer<Float>
  let keyStart: UnsafeMutablePointer<Int32>
  let keyEnd: UnsafeMutablePointer<Int32>
  let diagonal: UnsafeMutablePointer<Float>
  let kTile: UnsafeMutablePointer<Float>
  let vTile: UnsafeMutablePointer<Float>
  private let storage: UnsafeMutableRawPointer
  /// Bytes held, for memory accounting.
  public let byteCount: Int

  public init(config: TileConfig, headDim: Int, valueDim: Int) {
    self.config = config
    self.headDim = headDim
    self.valueDim = valueDim
    let br = config.paddedQueryTile
    let mc = TileConfig.microColumns
    paddedValueDim = (valueDim + mc - 1) / mc * mc
    let floatCounts = [
      br * headDim, config.paddedKeyTile * br, paddedValueDim * br, br, br, br, br, br, br,
      config.keyTile * headDim, config.keyTile * paddedValueDim,
    ]
    // Each region starts on a 64-byte boundary (a cache line).
    let rounded = floatCounts.map { ($0 + 15) / 16 * 16 }
    byteCount = rounded.reduce(0, +) * 4
    storage = UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: 64)
    storage.initializeMemory(as: UInt8.self, repeating: 0, count: byteCount)
    var cursor = storage
    func take(_ i: Int) -> UnsafeMutableRawPointer {
      defer { cursor += rounded[i] * 4 }
      return cursor
    }
    qPacked = take(0).assumingMemoryBound(to: Float.self)
    scores = take(1).assumingMemoryBound(to: Float.self)
    accT = take(2).assumingMemoryBound(to: Float.self)
    rowMax = take(3).assumingMemoryBound(to: Float.self)
    rowSum = take(4).assumingMemoryBound(to: Float.self)
    alpha = take(5).assumingMemoryBound(to: Float.self)
    keyStart = take(6).bindMemory(to: Int32.self, capacity: br)
    keyEnd = take(7).bindMemory(to: Int32.self, capacity: br)
    diagonal = take(8).assumingMemoryBound(to: Float.self)
    kTile = take(9).assumingMemoryBound(to: Float.self)
    vTile = take(10).assumingMemoryBound(to: Float.self)
  }

  deinit { storage.deallocate() }

  /// Whether this scratch can serve a problem with these head dims and tiles.
  public func fits(config: TileConfig, headDim: Int, valueDim: Int) -> Bool {
    self.config == config && self.headDim == headDim && self.valueDim == valueDim
  }
}
