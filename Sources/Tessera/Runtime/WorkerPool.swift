import Dispatch
import Synchronization

/// Runs `count` independent work items on `threads` workers, each with its own per-thread state
/// made once by `makeState`. Items are claimed in index order from a shared atomic counter, so a
/// caller that orders items longest-first gets a balanced tail.
///
/// Determinism: each item writes only its own outputs and computes them the same way whatever
/// thread runs it, so the result is bitwise identical for any thread count.
///
/// This is the single-node runtime; the NUMA-aware executors (per-node queues, pinning,
/// stealing) replace it behind the same call shape.
enum WorkerPool {
  static func run<State>(
    items count: Int, threads: Int, makeState: @escaping () -> State,
    body: @escaping (Int, State) -> Void
  ) {
    let job = Job(count: count, makeState: makeState, body: body)
    let workers = max(1, min(threads, count))
    if workers == 1 {
      job.work()
    } else {
      DispatchQueue.concurrentPerform(iterations: workers) { _ in job.work() }
    }
  }

  /// The shared state of one `run`: a claim counter and the closures, which workers only read.
  private final class Job<State>: @unchecked Sendable {
    let count: Int
    let makeState: () -> State
    let body: (Int, State) -> Void
    let next = Atomic<Int>(0)

    init(count: Int, makeState: @escaping () -> State, body: @escaping (Int, State) -> Void) {
      self.count = count
      self.makeState = makeState
      self.body = body
    }

    func work() {
      let state = makeState()
      while true {
        let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
        if i >= count { return }
        body(i, state)
      }
    }
  }
}
