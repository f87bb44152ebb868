import Dispatch

/// The triad of `PeakProbe.triadGBps` with its arrays kept between passes, so a benchmark can
/// run one pass right before each timed call and compare the two under the same machine
/// conditions (on this shared 2-core machine the triad itself moved 22–40 GB/s between minutes).
///
/// The 3 arrays of `megabytes` each are first touched by the threads that stream them (NUMA
/// placement); a pass splits them into `threads` contiguous chunks.
public final class TriadProbe: @unchecked Sendable {
  private let a: UnsafeMutablePointer<Float>
  private let b: UnsafeMutablePointer<Float>
  private let c: UnsafeMutablePointer<Float>
  private let count: Int
  public let threads: Int

  public init(threads: Int = 1, megabytes: Int = 256) {
    count = max(1, megabytes) * (1 << 20) / 4
    self.threads = max(1, threads)
    a = .allocate(capacity: count)
    b = .allocate(capacity: count)
    c = .allocate(capacity: count)
    forEachChunk { a, b, c, n in
      a.update(repeating: 0, count: n)
      b.update(repeating: 1, count: n)
      c.update(repeating: 2, count: n)
    }
  }

  deinit {
    a.deallocate()
    b.deallocate()
    c.deallocate()
  }

  /// GB/s of the best of `repeats` passes (3 streams of 4 bytes per element).
  public func gbps(repeats: Int = 1) -> Double {
    var best = 0.0
    for _ in 0..<max(1, repeats) {
      let start = DispatchTime.now().uptimeNanoseconds
      forEachChunk { a, b, c, n in PeakProbe.triad(a, b, c, count: n) }
      let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
      best = max(best, Double(count) * 12 / elapsed / 1e9)
    }
    return best
  }

  /// Runs `body` on each thread's chunk, one chunk per `concurrentPerform` worker.
  private func forEachChunk(
    _ body: (
      UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, Int
    ) -> Void
  ) {
    let chunk = (count + threads - 1) / threads
    let arrays = UncheckedBox((a, b, c, count))
    withoutActuallyEscaping(body) { body in
      let work = UncheckedBox(body)
      DispatchQueue.concurrentPerform(iterations: threads) { t in
        let (a, b, c, count) = arrays.value
        let lo = t * chunk
        let hi = min(count, lo + chunk)
        if lo < hi { work.value(a + lo, b + lo, c + lo, hi - lo) }
      }
    }
  }
}
