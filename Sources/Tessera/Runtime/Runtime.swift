import Dispatch
import Foundation
import Synchronization

/// The shared parallel runtime: one worker slot per CPU of its topology, two executors behind
/// one admission queue, and per-slot scratch that lives on the slot's node.
///
/// Many callers at once (an inference server's request handlers) share one runtime: a call is
/// granted free slots, at most the threads it asked for, and waits in a FIFO queue when none is
/// free, so the cores are never oversubscribed whatever the number of callers. A slot that frees
/// up goes to the oldest waiting call first, then tops up running calls that got fewer workers
/// than they asked for. The async entry points suspend the caller's task (they never block a
/// thread of Swift's cooperative pool), and a call still in the queue is withdrawn when its task
/// is cancelled.
public final class Runtime: @unchecked Sendable, Hashable, CustomStringConvertible {
  public let topology: Topology
  /// Executor for calls that do not name one.
  public let defaultExecutor: ExecutorKind
  /// Calls get at most one worker per this many FLOPs of estimated work, so that waking a
  /// worker (≈ 10–50 µs measured here, see `RuntimeOverhead`) stays under 2 % of its share.
  public let minimumWorkPerWorker: Double
  let slots: [WorkerSlot]
  /// The CPUs this process may use (bindings are restricted to them).
  private let allowed: Affinity.Mask?
  private let dispatchExecutor: DispatchExecutor
  private let pinnedPool: PinnedThreadPool
  private let admission: Mutex<Admission>
  /// Worker bodies running now and the most ever seen at once, for tests and reports.
  private let busy = Atomic<Int>(0)
  private let busyPeak = Atomic<Int>(0)
  private let launched = Atomic<Int>(0)
  /// The attached `TraceRecorder` (see `trace`); `tracing` lets untraced calls skip the lock.
  let tracer = Mutex<TraceRecorder?>(nil)
  let tracing = Atomic<Bool>(false)

  /// 8 MFLOP ≈ 0.3 ms of kernel time on one Zen 3 core at ~30 GFLOP/s.
  public static let defaultMinimumWorkPerWorker = 8e6

  /// The runtime of the machine's topology that calls without an explicit runtime share.
  public static let shared = Runtime()

  /// - Parameters:
  ///   - topology: nodes and CPUs to run on; a fake one (tests) may name CPUs this machine
  ///     lacks, whose workers then run unpinned.
  ///   - executor: the executor of calls that do not name one.
  ///   - minimumWorkPerWorker: FLOPs of estimated work per worker below which a call uses
  ///     fewer workers; 0 gives every call all the threads it asks for (determinism tests).
  public init(
    topology: Topology = .current(), executor: ExecutorKind = .default,
    minimumWorkPerWorker: Double = Runtime.defaultMinimumWorkPerWorker
  ) {
    let topology = topology.nodes.isEmpty ? .singleNode(cpuCount: 1) : topology
    self.topology = topology
    defaultExecutor = executor
    self.minimumWorkPerWorker = max(0, minimumWorkPerWorker)
    var slots: [WorkerSlot] = []
    // One slot per CPU, bound to that CPU (a caller working a slot binds to it for the call).
    // Bound to the whole node instead, a woken worker and the caller could share one CPU for
    // milliseconds on this VM (trace of `scale`, S=512 H=4 D=64: the worker started 1.7–4 ms
    // late and 2 threads ran at 1.0× of 1).
    for (n, node) in topology.nodes.enumerated() {
      for cpu in node.cpus {
        slots.append(WorkerSlot(index: slots.count, nodeIndex: n, node: node.id, cpus: [cpu]))
      }
    }
    self.slots = slots
    let allowed = Topology.allowedCPUs().map { Affinity.Mask($0) } ?? Affinity.current()
    self.allowed = allowed
    // A caller thread that works a slot binds to the slot's CPU only when that narrows anything
    // (more than one allowed CPU), and not even then for a one-worker call when the slot's node
    // is every allowed CPU (`nodeSpansAllowed`, see `run`): binding costs system calls per call.
    for slot in slots {
      slot.bindsCaller = allowed.map { m in m.cpus.contains { !slot.cpus.contains($0) } } ?? true
      let nodeCPUs = Set(topology.nodes[slot.nodeIndex].cpus)
      slot.nodeSpansAllowed = allowed.map { m in m.cpus.allSatisfy(nodeCPUs.contains) } ?? false
    }
    dispatchExecutor = DispatchExecutor(slots: slots, allowed: allowed)
    pinnedPool = PinnedThreadPool(slots: slots, allowed: allowed)
    var free = [[Int]](repeating: [], count: topology.nodes.count)
    for slot in slots.reversed() { free[slot.nodeIndex].append(slot.index) }
    admission = Mutex(Admission(free: free))
  }

  /// Worker slots: one per CPU of the topology.
  public var workerCount: Int { slots.count }

  /// The most worker bodies that ever ran at once on this runtime; never above `workerCount`.
  public var peakConcurrentWorkers: Int { busyPeak.load(ordering: .relaxed) }

  /// Slots granted to calls since the runtime was made (each runs one worker body).
  public var workersStarted: Int { launched.load(ordering: .relaxed) }

  /// Worker slots no call holds now.
  public var idleWorkers: Int { admission.withLock { $0.freeCount } }

  /// Calls waiting for a first worker now.
  public var queuedCalls: Int { admission.withLock { $0.waiting.count } }

  public static func == (a: Runtime, b: Runtime) -> Bool { a === b }
  public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }

  public var description: String {
    "Runtime(\(workerCount) workers, executor \(defaultExecutor), \(topology))"
  }

  func executor(_ kind: ExecutorKind) -> any Executor {
    kind == .pinned ? pinnedPool : dispatchExecutor
  }

  /// Workers a call of `totalCost` FLOPs over `items` items gets at most when it asks for
  /// `threads`.
  func workers(threads: Int, items: Int, totalCost: Double) -> Int {
    let coarse =
      minimumWorkPerWorker > 0 ? Int((totalCost / minimumWorkPerWorker).rounded(.down)) : .max
    return max(1, min(threads, items, slots.count, max(1, coarse)))
  }

  // MARK: - Entry points

  /// Runs `work` and returns when every item has run. Blocks the calling thread.
  ///
  /// The calling thread works too: when the call is admitted at once, its first slot runs on
  /// the caller (bound to the slot's CPU for the duration, unless the call wants one worker and
  /// the node is every allowed CPU) instead of waking a worker, as an OpenMP master thread does.
  /// A one-worker call then costs no thread hand-off at all, and an n-worker call wakes n − 1.
  /// A call that has to queue sleeps until workers finish it.
  func run(_ work: ParallelWork) {
    if work.partition.itemCount == 0 { return }
    let done = DispatchSemaphore(value: 0)
    let job = RuntimeJob(traced(work)) { _ in done.signal() }
    var starts = submit(job, token: nil, launching: false)
    if let mine = starts.firstIndex(where: { $0.1 === job }) {
      let (slot, _) = starts.remove(at: mine)
      launch(starts)
      let body = { self.work(slot, job) }
      // A call that wants one worker on a one-node machine runs unbound: binding would cost
      // three system calls and often a migration (B=4, 32/8 heads, Skv=128 decode on 1 thread:
      // ~7 % of the samples in `sched_setaffinity`/`getaffinity`), and no other worker of the
      // call will ever share its CPU.
      if slot.bindsCaller && !(job.work.workers == 1 && slot.nodeSpansAllowed) {
        Affinity.withBinding(to: slot.cpus, allowedBy: allowed, body)
      } else {
        body()
      }
    } else {
      launch(starts)
    }
    done.wait()
  }

  /// Runs `work`, suspending (not blocking) the calling task until every item has run. Not
  /// cancellable: the caller's buffers must outlive the call.
  func run(_ work: ParallelWork) async {
    if work.partition.itemCount == 0 { return }
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
      submit(RuntimeJob(traced(work)) { _ in continuation.resume() }, token: nil)
    }
  }

  /// Like `run(_:) async`, but a call still waiting for its first worker when the task is
  /// cancelled is withdrawn and throws `CancellationError`; once it has started it runs to the
  /// end (items are not interruptible, and half an output is no use to anyone).
  func runCancellable(_ work: ParallelWork) async throws(CancellationError) {
    if Task.isCancelled { throw CancellationError() }
    if work.partition.itemCount == 0 { return }
    let token = CancelToken()
    let ran = await withTaskCancellationHandler {
      await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
        submit(RuntimeJob(traced(work)) { continuation.resume(returning: $0) }, token: token)
      }
    } onCancel: {
      cancel(token)
    }
    if !ran { throw CancellationError() }
  }

  // MARK: - Admission

  struct Admission {
    /// Free slot indices per node position.
    var free: [[Int]]
    /// Calls waiting for their first worker, oldest first.
    var waiting: [RuntimeJob] = []
    /// Running calls that asked for more workers than they hold.
    var hungry: [RuntimeJob] = []

    var freeCount: Int { free.reduce(0) { $0 + $1.count } }
  }

  @discardableResult
  private func submit(
    _ job: RuntimeJob, token: CancelToken?, launching: Bool = true
  ) -> [(WorkerSlot, RuntimeJob)] {
    let (starts, cancelled) = admission.withLock { a -> ([(WorkerSlot, RuntimeJob)], Bool) in
      if let token {
        if token.cancelled { return ([], true) }
        token.job = job
      }
      a.waiting.append(job)
      return (schedule(&a), false)
    }
    if cancelled { job.cancel() }
    if launching { launch(starts) }
    return launching ? [] : starts
  }

  private func cancel(_ token: CancelToken) {
    let withdrawn = admission.withLock { a -> RuntimeJob? in
      token.cancelled = true
      guard let job = token.job, let i = a.waiting.firstIndex(where: { $0 === job }) else {
        return nil
      }
      a.waiting.remove(at: i)
      return job
    }
    withdrawn?.cancel()
  }

  /// Hands free slots out: waiting calls first (FIFO, each up to its worker count), then
  /// running calls that want more workers and still have unclaimed items.
  private func schedule(_ a: inout Admission) -> [(WorkerSlot, RuntimeJob)] {
    var starts: [(WorkerSlot, RuntimeJob)] = []
    while a.freeCount > 0, !a.waiting.isEmpty {
      let job = a.waiting.removeFirst()
      while job.running < job.work.workers, let slot = take(for: job, &a) {
        starts.append((slot, job))
      }
      if job.running < job.work.workers { a.hungry.append(job) }
    }
    a.hungry.removeAll { $0.running >= $0.work.workers || !$0.claims.hasUnclaimed }
    var i = 0
    while a.freeCount > 0, i < a.hungry.count {
      let job = a.hungry[i]
      if job.running < job.work.workers, let slot = take(for: job, &a) {
        starts.append((slot, job))
      } else {
        i += 1
      }
    }
    return starts
  }

  /// Takes a free slot for `job` on the node where it has the most unclaimed items per worker
  /// it already holds there (its K/V are on that node); any free slot when no node with work
  /// has one.
  private func take(for job: RuntimeJob, _ a: inout Admission) -> WorkerSlot? {
    var best: (node: Int, score: Double)? = nil
    for n in a.free.indices where !a.free[n].isEmpty {
      let jobNode = min(n, job.work.partition.nodeCount - 1)
      let unclaimed = Double(job.claims.unclaimed(node: jobNode))
      let score =
        unclaimed / Double(job.runningOnNode[jobNode] + 1) + 1e-9 * Double(a.free[n].count)
      if best == nil || score > best!.score { best = (n, score) }
    }
    guard let n = best?.node, let index = a.free[n].popLast() else { return nil }
    job.running += 1
    launched.wrappingAdd(1, ordering: .relaxed)
    job.runningOnNode[min(n, job.work.partition.nodeCount - 1)] += 1
    return slots[index]
  }

  private func launch(_ starts: [(WorkerSlot, RuntimeJob)]) {
    for (slot, job) in starts {
      executor(job.work.executor).start(slot) { [self] slot in work(slot, job) }
    }
  }

  /// One worker's life on `slot`, on whatever thread runs it.
  private func work(_ slot: WorkerSlot, _ job: RuntimeJob) {
    let now = busy.wrappingAdd(1, ordering: .relaxed).newValue
    busyPeak.max(now, ordering: .relaxed)
    job.run(on: slot)
    busy.wrappingSubtract(1, ordering: .relaxed)
    release(slot, from: job)
  }

  private func release(_ slot: WorkerSlot, from job: RuntimeJob) {
    let starts = admission.withLock { a in
      a.free[slot.nodeIndex].append(slot.index)
      job.running -= 1
      job.runningOnNode[min(slot.nodeIndex, job.work.partition.nodeCount - 1)] -= 1
      return schedule(&a)
    }
    launch(starts)
  }
}
