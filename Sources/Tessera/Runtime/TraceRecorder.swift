import Foundation
import Synchronization

/// Records the schedule of runtime calls: which worker thread ran which work item, when, and
/// whether it was stolen from another node's queue. Export it with `chromeTraceJSON()` and open
/// it in Perfetto (ui.perfetto.dev) or chrome://tracing to see the schedule, the stealing and
/// the idle tails.
///
/// The runtime records only (thread, slot, node, item, start, end, stolen); what an item *is*
/// (batch, head, tile; sequence, kv head, split) comes from the caller's `describe` closure,
/// evaluated when the trace is exported, so the runtime stays ignorant of the math and a traced
/// item costs two clock reads, one `gettid` and one locked append (≈ 0.2 µs against items of
/// 0.1–10 ms). With tracing off the work loop is the untraced one: no clock read, allocation or
/// lock per item.
///
/// Attach a recorder with `Runtime.trace`; every call admitted while it is attached is recorded.
public final class TraceRecorder: Sendable {
  /// One work item as it ran.
  public struct Slice: Sendable, Hashable {
    /// The recorded call it belongs to (index into `calls`).
    public var call: Int
    /// The item's index in its call.
    public var item: Int
    /// The runtime worker slot that ran it.
    public var slot: Int
    /// NUMA node id of the worker that ran it.
    public var node: Int
    /// NUMA node id whose queue it came from (its K/V's home).
    public var home: Int
    /// OS thread id (`gettid`) of the thread that ran it.
    public var thread: Int
    /// Whether that thread is the process's main thread (the caller working a slot).
    public var mainThread: Bool
    /// Monotonic clock (CLOCK_MONOTONIC) nanoseconds.
    public var start: UInt64
    public var end: UInt64
    /// Claimed from another node's queue (`home != node`).
    public var stolen: Bool
  }

  /// One runtime call recorded.
  public struct Call: Sendable {
    public var name: String
    public var items: Int
    public var workers: Int
    public var start: UInt64
    /// The caller's description of item `i`, as ordered (key, value) pairs.
    let describe: (@Sendable (Int) -> [(String, Int)])?

    public func arguments(item: Int) -> [(String, Int)] { describe?(item) ?? [] }
  }

  /// A span the caller marks on its own track (a benchmark iteration, a sweep point).
  public struct Span: Sendable, Hashable {
    public var name: String
    public var arguments: [String: String]
    public var start: UInt64
    public var end: UInt64
    public var thread: Int
  }

  struct State {
    var calls: [Call] = []
    var slices: [Slice] = []
    var spans: [Span] = []
    /// OS thread id of each thread seen, by `pthread_self()`.
    var threadIDs: [UInt: Int] = [:]
  }

  let state = Mutex(State())
  /// The clock reading that is time 0 of the exported trace.
  public let origin: UInt64

  public init() { origin = TraceRecorder.now() }

  /// Nanoseconds on the monotonic clock (the one every recorded time uses).
  public static func now() -> UInt64 {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
  }

  /// The calling thread's OS id (Linux: the tid of `/proc/thread-self`, as `gettid` returns
  /// it and `perf` shows it); a process-unique number elsewhere. A system call or two: the
  /// recorder asks once per thread (`threadNumbers`).
  static func osThreadID() -> Int {
    #if os(Linux)
      var buffer = [CChar](repeating: 0, count: 64)
      let n = readlink("/proc/thread-self", &buffer, buffer.count - 1)
      if n > 0 {
        let path = String(decoding: buffer.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if let last = path.split(separator: "/").last, let tid = Int(last) { return tid }
      }
    #endif
    return Int(bitPattern: pthreadKey())
  }

  /// An opaque per-thread key, read without a system call.
  static func pthreadKey() -> UInt {
    #if os(Linux)
      return UInt(pthread_self())
    #else
      return UInt(bitPattern: pthread_self())
    #endif
  }

  /// The calling thread's OS id, looked up once per thread under `state`'s lock.
  static func threadID(_ s: inout State) -> Int {
    let key = pthreadKey()
    if let id = s.threadIDs[key] { return id }
    let id = osThreadID()
    s.threadIDs[key] = id
    return id
  }

  public var calls: [Call] { state.withLock { $0.calls } }
  /// Recorded items in the order they finished.
  public var slices: [Slice] { state.withLock { $0.slices } }
  public var spans: [Span] { state.withLock { $0.spans } }

  /// Runs `body` and records it as a span on the calling thread's track.
  @discardableResult
  public func span<T>(
    _ name: String, arguments: [String: String] = [:], _ body: () throws -> T
  ) rethrows -> T {
    let start = Self.now()
    defer {
      let end = Self.now()
      state.withLock {
        let thread = Self.threadID(&$0)
        $0.spans.append(
          Span(name: name, arguments: arguments, start: start, end: end, thread: thread))
      }
    }
    return try body()
  }

  /// Registers a call about to run; its workers record into the returned handle.
  func begin(_ work: ParallelWork, nodeIDs: [Int]) -> TraceCall {
    let call = Call(
      name: work.name, items: work.partition.itemCount, workers: work.workers, start: Self.now(),
      describe: work.describe)
    let index = state.withLock { s in
      s.calls.append(call)
      return s.calls.count - 1
    }
    return TraceCall(recorder: self, index: index, nodeIDs: nodeIDs)
  }
}

/// The recording handle of one traced call, carried by its `ParallelWork`.
final class TraceCall: Sendable {
  let recorder: TraceRecorder
  let index: Int
  /// Node id of each node position of the runtime's topology.
  let nodeIDs: [Int]

  init(recorder: TraceRecorder, index: Int, nodeIDs: [Int]) {
    self.recorder = recorder
    self.index = index
    self.nodeIDs = nodeIDs
  }

  /// Records item `item`, claimed from node position `queue`'s queue, run on `slot` since
  /// `start`.
  func record(item: Int, queue: Int, slot: WorkerSlot, start: UInt64) {
    let end = TraceRecorder.now()
    let home = nodeIDs.indices.contains(queue) ? nodeIDs[queue] : queue
    recorder.state.withLock {
      let thread = TraceRecorder.threadID(&$0)
      $0.slices.append(
        TraceRecorder.Slice(
          call: index, item: item, slot: slot.index, node: slot.node.rawValue, home: home,
          thread: thread, mainThread: thread == Int(getpid()), start: start, end: end,
          stolen: home != slot.node.rawValue))
    }
  }
}

extension WorkClaims {
  /// `claim(node:)` that also says which node position's queue the item came from.
  func claimTracked(node: Int) -> (item: Int, queue: Int)? {
    if let i = claim(queue: node) { return (i, node) }
    for victim in partition.stealOrder[node] {
      if let i = claim(queue: victim) { return (i, victim) }
    }
    return nil
  }
}

extension Runtime {
  /// The recorder that calls admitted from now on record into; `nil` (the default) records
  /// nothing. Attach and detach it between calls: a call samples it once when it is admitted.
  public var trace: TraceRecorder? {
    get { tracing.load(ordering: .acquiring) ? tracer.withLock { $0 } : nil }
    set {
      tracer.withLock { $0 = newValue }
      tracing.store(newValue != nil, ordering: .releasing)
    }
  }

  /// `work` with a recording handle when a recorder is attached; `work` itself (one atomic
  /// load, no lock) when none is.
  func traced(_ work: ParallelWork) -> ParallelWork {
    guard tracing.load(ordering: .acquiring), let recorder = tracer.withLock({ $0 }) else {
      return work
    }
    var work = work
    work.trace = recorder.begin(work, nodeIDs: topology.nodes.map(\.id.rawValue))
    return work
  }
}
