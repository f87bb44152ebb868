/// Cache blocking of the GEMM, as data so benchmarks can sweep it.
///
/// Loop nest (BLIS / Goto): for each NC-wide column panel of B, for each KC-deep slice:
/// pack B̃ (KC×NC); for each MC-tall row block of A: pack Ã (MC×KC); for each 16-column
/// micro-panel of B̃ (jr), for each 6-row micro-panel of Ã (ir): the micro-kernel adds a 6×16
/// tile of C over KC steps.
///
/// Micro-tile (register file: 16 ymm on AVX2): 6 rows × 16 columns of C = 12 accumulators;
/// per step of k, 2 vector loads of B̃ and 6 broadcasts of Ã feed 12 FMAs (8 loads per 12 FMAs;
/// Zen 3 has 2 FMA pipes of latency 4, so 12 chains ≥ the 8 needed to hide it).
///
/// Sizes (Zen 3: L1d 32 KiB, L2 512 KiB per core, L3 32 MiB shared):
/// - KC = 256: the B̃ micro-panel, KC·16·4 = 16 KiB, stays in L1 while every Ã micro-panel of
///   the block meets it, with room for the streaming Ã micro-panel (KC·6·4 = 6 KiB) and C's
///   6×16 tile. Half of L1 for the reused panel leaves slack for associativity conflicts.
/// - MC = 144 (24 micro-panels): Ã = MC·KC·4 = 144 KiB, about a quarter of L2, so it stays
///   in L2 across all NC/16 jr steps while B̃ micro-panels stream through it from L3.
/// - NC = 4080 (255 micro-panels): B̃ = KC·NC·4 ≈ 4 MiB, shared by all cores, in L3.
/// These are BLIS's Zen sgemm sizes; `tessera gemm --mc --kc --nc` sweeps them.
public struct GemmBlocking: Hashable, Sendable, CustomStringConvertible {
  /// Rows of C per micro-tile.
  public static let mr = 6
  /// Columns of C per micro-tile (2 vectors of 8).
  public static let nr = 16

  /// Rows of A per packed block (rounded up to a multiple of `mr`).
  public let mc: Int
  /// Depth of a packed slice.
  public let kc: Int
  /// Columns of B per packed panel (rounded up to a multiple of `nr`).
  public let nc: Int

  public init(mc: Int = 144, kc: Int = 256, nc: Int = 4080) {
    self.mc = (max(1, mc) + Self.mr - 1) / Self.mr * Self.mr
    self.kc = max(1, kc)
    self.nc = (max(1, nc) + Self.nr - 1) / Self.nr * Self.nr
  }

  public static let `default` = GemmBlocking()

  public var description: String { "MC=\(mc) KC=\(kc) NC=\(nc)" }
}
