/// Wall-clock timing of repeated runs.
struct Stopwatch {
  /// Seconds `body` takes, on the monotonic clock.
  static func seconds(_ body: () throws -> Void) rethrows -> Double {
    let clock = ContinuousClock()
    let start = clock.now
    try body()
    let elapsed = start.duration(to: clock.now)
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
  }
}

/// Summary of repeated timings: the median is what to compare (robust to the odd slow run on a
/// shared machine); the minimum is the best the machine did.
struct TimingSummary {
  var samples: [Double]

  var median: Double {
    let s = samples.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
  }
  var min: Double { samples.min() ?? 0 }
  var max: Double { samples.max() ?? 0 }
}
