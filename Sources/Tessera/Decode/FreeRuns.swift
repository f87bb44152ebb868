/// The free blocks of a paged pool as a segment tree: the leftmost longest run of free blocks
/// in O(1), a block taken or freed in O(log n).
///
/// `PagedKVCache.takeBlock` starts a sequence (or one whose next block is taken) in the middle
/// of the longest free run. It scanned the pool for that run: O(pool) per such block, and in a
/// pool fragmented by many interleaved sequences that is most blocks (one per `blockSize`
/// tokens of each sequence). The benchmark `paged_append_fragmented_blocks=65536` (Benchmarks/,
/// DecodeBenchmarks: 65536 one-token blocks, every other one held, a new sequence appending
/// one token and releasing it), p50 per iteration over 2000: 1.07–1.68 µs with the tree (3
/// runs), 51.0 µs with the scan it replaced (2 runs, interleaved; the scan is
/// `git show c99fe2d~1:Sources/Tessera/Decode/PagedKVCache.swift`). Each node keeps the free
/// run at its start (`prefix`), at its end (`suffix`) and its longest (`best`, starting at
/// `bestStart`), as the classic longest-run tree does; leaves past the pool count as taken.
struct FreeRuns {
  private let leaves: Int
  private var prefix: [Int32]
  private var suffix: [Int32]
  private var best: [Int32]
  private var bestStart: [Int32]

  /// `count` blocks, all free.
  init(count: Int) {
    var n = 1
    while n < count { n <<= 1 }
    leaves = n
    prefix = Array(repeating: 0, count: 2 * n)
    suffix = prefix
    best = prefix
    bestStart = prefix
    for b in 0..<n { setLeaf(b, free: b < count) }
    var v = n - 1
    while v >= 1 {
      // Node v's children each cover leaves >> (depth of v + 1) blocks.
      pull(v, half: n >> (Int.bitWidth - v.leadingZeroBitCount))
      v -= 1
    }
  }

  /// The leftmost longest run of free blocks: its first block and length (0: none free).
  var longest: (start: Int, length: Int) { (Int(bestStart[1]), Int(best[1])) }

  /// Marks `block` free or taken.
  mutating func set(_ block: Int, free: Bool) {
    setLeaf(block, free: free)
    var v = (leaves + block) >> 1
    var half = 1
    while v >= 1 {
      pull(v, half: half)
      v >>= 1
      half <<= 1
    }
  }

  private mutating func setLeaf(_ block: Int, free: Bool) {
    let v = leaves + block
    let run: Int32 = free ? 1 : 0
    prefix[v] = run
    suffix[v] = run
    best[v] = run
    bestStart[v] = Int32(block)
  }

  /// Node v from its children, each covering `half` blocks. Candidates for the longest run in
  /// the order of their starts (left child's, the one across the middle, right child's), the
  /// first of the longest kept: the leftmost, as a scan finds it.
  private mutating func pull(_ v: Int, half: Int) {
    let l = 2 * v
    let r = l + 1
    let h = Int32(half)
    prefix[v] = prefix[l] == h ? h + prefix[r] : prefix[l]
    suffix[v] = suffix[r] == h ? h + suffix[l] : suffix[r]
    var length = best[l]
    var start = bestStart[l]
    let across = suffix[l] + prefix[r]
    if across > length {
      length = across
      start = Int32(r * half - leaves) - suffix[l]
    }
    if best[r] > length {
      length = best[r]
      start = bestStart[r]
    }
    best[v] = length
    bestStart[v] = start
  }
}
