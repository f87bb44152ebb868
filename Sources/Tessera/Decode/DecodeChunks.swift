/// Decode's runtime work items: runs of up to `splitsPerChunk` consecutive splits of one
/// (sequence, kv head) group, computed one after the other by one worker.
///
/// Only the schedule changes: each split is still its own partial state, merged in split order
/// (`DecodeKernel.run`), so the bits are those of one split per item for any chunking and
/// thread count. What a chunk saves is a cold start per split: a split's first K tile has no
/// earlier P·V to be fetched during, and within a chunk the previous split's last tile asks for
/// it (`continues`). `tessera decode --batch 4 --heads 32 --kv-heads 8 --dim 128 --kv-seq 32768
/// --dtype f16 --threads 2` (1024 splits of 1024 keys, chunks of 4), alternated call by call
/// in one process with chunks of one split (median of 40 per-pair time ratios per run): 0–2.2 %
/// faster in 8 runs (median 1.4 %); `--paged --block-size 16`: 2 runs, −1.6 and +0.6 %.
/// Splits of 4096 keys instead gained 2.8–4.0 %, but they change the bits and cut the items
/// a small batch has to spread over many cores.
struct DecodeChunks: Sendable {
  /// First item (split) of each chunk; the chunk runs `first[c] ..< end[c]`.
  let first: [Int]
  let end: [Int]

  var count: Int { first.count }

  func items(_ c: Int) -> Range<Int> { first[c]..<end[c] }

  init(_ ops: DecodeOperands, splitsPerChunk m: Int) {
    var first: [Int] = []
    var end: [Int] = []
    for g in 0..<ops.groupFirst.count {
      let groupEnd = ops.groupFirst[g] + ops.groupCount[g]
      var i = ops.groupFirst[g]
      while i < groupEnd {
        first.append(i)
        i = min(groupEnd, i + max(1, m))
        end.append(i)
      }
    }
    self.first = first
    self.end = end
  }

  /// Up to 4 splits per chunk while the call keeps at least 16 chunks per worker (room for the
  /// runtime to balance the workers); one split per chunk below that.
  static func splitsPerChunk(items: Int, workers: Int) -> Int {
    max(1, min(4, items / (max(1, workers) * 16)))
  }
}
