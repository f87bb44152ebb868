import Synchronization

/// What a call asks the runtime to run: a partition of items, the body that runs one item on a
/// worker slot, and how many workers it may use.
struct ParallelWork: Sendable {
  let partition: WorkPartition
  /// Workers the call may use at most (already capped by items and coarseness).
  let workers: Int
  let executor: ExecutorKind
  let body: @Sendable (Int, WorkerSlot) -> Void
  /// Trace name of the call and the caller's description of item `i` (only read when traced).
  var name = "call"
  var describe: (@Sendable (Int) -> [(String, Int)])? = nil
  /// Set by the runtime when a `TraceRecorder` is attached; `nil` runs the untraced loop.
  var trace: TraceCall? = nil
}

/// One admitted call: its claims, its completion, and (under the runtime's lock) the workers
/// it holds now.
final class RuntimeJob: @unchecked Sendable {
  let work: ParallelWork
  let claims: WorkClaims
  /// Called once: `true` when every item ran, `false` when the call was cancelled in the queue.
  private let finish: @Sendable (Bool) -> Void
  private let remaining: Atomic<Int>
  // Guarded by the runtime's admission lock.
  var running = 0
  var runningOnNode: [Int]

  init(_ work: ParallelWork, finish: @escaping @Sendable (Bool) -> Void) {
    self.work = work
    claims = WorkClaims(work.partition)
    self.finish = finish
    remaining = Atomic(work.partition.itemCount)
    runningOnNode = Array(repeating: 0, count: work.partition.nodeCount)
  }

  /// A worker's life: claim items (own node first, then steal) until none is left. The worker
  /// that completes the last item completes the call; workers still looking for items after
  /// that touch only the claims, never the caller's buffers.
  func run(on slot: WorkerSlot) {
    let node = min(slot.nodeIndex, work.partition.nodeCount - 1)
    if let trace = work.trace {
      while let (item, queue) = claims.claimTracked(node: node) {
        let start = TraceRecorder.now()
        work.body(item, slot)
        trace.record(item: item, queue: queue, slot: slot, start: start)
        if remaining.wrappingSubtract(1, ordering: .acquiringAndReleasing).oldValue == 1 {
          finish(true)
        }
      }
      return
    }
    while let item = claims.claim(node: node) {
      work.body(item, slot)
      if remaining.wrappingSubtract(1, ordering: .acquiringAndReleasing).oldValue == 1 {
        finish(true)
      }
    }
  }

  func cancel() { finish(false) }
}

/// Ties an async call to its queued job so a task's cancellation can withdraw it. Its fields
/// are read and written only under the runtime's admission lock.
final class CancelToken: @unchecked Sendable {
  var cancelled = false
  var job: RuntimeJob?
}
