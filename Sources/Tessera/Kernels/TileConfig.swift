/// Tile sizes of the flash kernel, as data so benchmarks and tests can sweep them.
///
/// Micro-tiles (fixed by the register file: 16 ymm registers on AVX2):
/// - S = Q_i·K_jᵀ is computed transposed, Sᵀ[4 keys][24 queries]: 12 accumulators (4×3 vectors),
///   3 vector loads of packed Q and 4 broadcasts of K per step of the head dim → 12 FMAs per
///   7 loads, FMA-bound on Zen 3 (2 FMA + 3 load ports).
/// - acc += P·V_j is accᵀ[4 value dims][24 queries]: the same 12 + 3 + 1 register shape, with P
///   as vectors and V broadcast.
/// Working everywhere on 24-query vectors means K is read in place (d contiguous, one broadcast
/// per key and dim), V only re-blocked into 4-dim groups (16-byte moves, no transpose), and the
/// online softmax is purely vertical (no horizontal reductions).
///
/// Tile sizes (Zen 3: L1d 32 KiB, L2 512 KiB per core). For D = Dv = 128, Br = 96, Bc = 64:
/// - packed Q_i:  D·Br·4  = 48 KiB  (L2; one 24-query micro-panel, 12 KiB, lives in L1 while it
///                                   meets the whole K_j tile)
/// - K_j:         Bc·D·4  = 32 KiB, read in place (L2 after first touch)
/// - V_j blocked: Bc·Dv·4 = 32 KiB, one 4-dim group (1 KiB) in L1 per pass
/// - Sᵀ / Pᵀ:     Bc·Br·4 = 24 KiB
/// - accᵀ:        Dv·Br·4 = 48 KiB
/// Together ≈ 184 KiB: fits L2 with room for the hardware prefetcher's next tile. Larger Br
/// amortizes the per-tile softmax and K/V re-reads (each K/V tile is read once per query tile)
/// but coarsens the causal tail and the parallel work items; Bc = 64 keeps Sᵀ in L1 during the
/// softmax passes.
public struct TileConfig: Hashable, Sendable, CustomStringConvertible {
  /// Query rows per micro-tile (3 × 8 lanes).
  public static let microQueries = 24
  /// Keys (for S) or value dims (for P·V) per micro-tile.
  public static let microColumns = 4

  /// Query rows per tile (Br): each work item covers this many query rows.
  public let queryTile: Int
  /// Keys per tile (Bc).
  public let keyTile: Int

  /// Br rounded up to whole 24-row micro-panels: the row count of every tile buffer.
  public var paddedQueryTile: Int {
    (queryTile + Self.microQueries - 1) / Self.microQueries * Self.microQueries
  }
  /// Bc rounded up to whole 4-key micro-tiles: the row count of the Sᵀ buffer.
  public var paddedKeyTile: Int {
    (keyTile + Self.microColumns - 1) / Self.microColumns * Self.microColumns
  }

  /// Sizes below 1 become 1. Query tiles that are not a multiple of 24 rows compute padding
  /// rows (wasted work), so the defaults and the sweeps use multiples of 24.
  public init(queryTile: Int = 96, keyTile: Int = 64) {
    self.queryTile = max(1, queryTile)
    self.keyTile = max(1, keyTile)
  }

  public static let `default` = TileConfig()

  public var description: String { "Br=\(queryTile) Bc=\(keyTile)" }
}
