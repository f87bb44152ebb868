// The paged cache's block allocator under fragmentation: a pool of 65536 one-token blocks with
// every other block held by one sequence, so every free run is one block long and a sequence's
// next block is never free. Each iteration adds a sequence, appends one token to it (which
// asks `takeBlock` for the longest free run) and releases it. Measures what a server pays per
// block when interleaved sequences have fragmented the pool (`FreeRuns`); K and V rows are
// 2 floats, so the copy is negligible.
//
// Name: "paged_append_fragmented_blocks=65536" (no spaces, no tags; see DecodeBenchmarks).

import Benchmark
import Tessera

func registerPagedAppend() {
  let blocks = 65536
  let slot = PagedAppendSlot()
  Benchmark(
    "paged_append_fragmented_blocks=\(blocks)",
    configuration: .init(
      metrics: [.wallClock, .throughput, .mallocCountTotal], timeUnits: .nanoseconds,
      warmupIterations: 10, maxDuration: .seconds(2), maxIterations: 2000),
    closure: { (benchmark: Benchmark) -> Void in
      guard let cache = slot.cache else {
        benchmark.error("setup did not build the pool")
        return
      }
      let token: [Float] = [1, 1]
      for _ in benchmark.scaledIterations {
        do {
          let s = cache.addSequence()
          try cache.append(sequence: s, keys: token, values: token)
          try cache.release(sequence: s)
        } catch {
          benchmark.error("append failed: \(error)")
          return
        }
      }
    },
    setup: {
      let cache = try PagedKVCache(
        sequences: 1, blocks: blocks, blockSize: 1, kvHeads: 1, headDim: 2)
      try cache.assign(
        sequence: 0, blocks: (0..<(blocks / 2)).map { Int32(2 * $0) }, length: blocks / 2)
      slot.cache = cache
    },
    teardown: {
      slot.cache = nil
    }
  )
}

/// Holds the pool from the benchmark's setup to its teardown.
final class PagedAppendSlot: @unchecked Sendable {
  var cache: PagedKVCache?
}
