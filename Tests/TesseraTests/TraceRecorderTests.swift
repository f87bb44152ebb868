import Foundation
import Tessera
import Testing

/// The runtime's trace hook: nothing recorded when off, one slice per work item when on, and a
/// Chrome trace that parses with monotone timestamps.
@Suite struct TraceRecorderTests {
  /// Two nodes of one CPU each (both CPUs of a 2-core box; unpinned where they do not exist).
  static let twoNodes = Topology(nodes: [
    Topology.Node(id: 0, cpus: [0]), Topology.Node(id: 1, cpus: [1]),
  ])

  /// B=1, H=4 (Hkv=2), S=200 (3 query tiles of 96), D=16: 12 items, 6 per node.
  static func inputs() -> (AttentionProblem, [Float], [Float], [Float]) {
    let shape = AttentionShape(
      batch: 1, queryHeads: 4, kvHeads: 2, queryLength: 200, headDim: 16)
    let problem = AttentionProblem(shape: shape, mask: .causal, order: .bhsd)
    func floats(_ n: Int, _ seed: UInt64) -> [Float] {
      var g = SplitMix64(seed: seed)
      return g.floats(n)
    }
    return (problem, floats(4 * 200 * 16, 1), floats(2 * 200 * 16, 2), floats(2 * 200 * 16, 3))
  }

  static let items = 4 * 3

  @Test func recordsNothingWhenOff() throws {
    let runtime = Runtime(topology: Self.twoNodes, minimumWorkPerWorker: 0)
    #expect(runtime.trace == nil)
    let (problem, q, k, v) = Self.inputs()
    let options = AttentionOptions(threads: 2, runtime: runtime)
    let recorder = TraceRecorder()
    // Attached, then detached: only the call in between is recorded.
    runtime.trace = recorder
    _ = try Attention.forward(problem, q: q, k: k, v: v, options: options)
    runtime.trace = nil
    #expect(runtime.trace == nil)
    _ = try Attention.forward(problem, q: q, k: k, v: v, options: options)
    #expect(recorder.calls.count == 1)
    #expect(recorder.slices.count == Self.items)
    // A recorder never attached stays empty.
    let idle = TraceRecorder()
    _ = try Attention.forward(problem, q: q, k: k, v: v, options: options)
    #expect(idle.calls.isEmpty && idle.slices.isEmpty && idle.spans.isEmpty)
    #expect(recorder.slices.count == Self.items)
  }

  @Test func oneSlicePerItemAndSameResult() throws {
    let runtime = Runtime(topology: Self.twoNodes, minimumWorkPerWorker: 0)
    let (problem, q, k, v) = Self.inputs()
    let options = AttentionOptions(threads: 2, runtime: runtime)
    let plain = try Attention.forward(problem, q: q, k: k, v: v, options: options)
    let recorder = TraceRecorder()
    runtime.trace = recorder
    let traced = try recorder.span("call") {
      try Attention.forward(problem, q: q, k: k, v: v, options: options)
    }
    runtime.trace = nil
    #expect(RuntimeFixtures.identical(plain, traced))

    let slices = recorder.slices
    #expect(slices.count == Self.items)
    #expect(Set(slices.map(\.item)) == Set(0..<Self.items))
    #expect(slices.allSatisfy { $0.end >= $0.start && $0.start >= recorder.origin })
    #expect(slices.allSatisfy { $0.stolen == ($0.home != $0.node) })
    let call = try #require(recorder.calls.first)
    #expect(call.name == "prefill" && call.items == Self.items)
    let keys = call.arguments(item: 5).map(\.0)
    #expect(keys.starts(with: ["batch", "head", "tile"]))
    // Item 5 = (b 0, h 1, t 2).
    #expect(call.arguments(item: 5).prefix(3).map(\.1) == [0, 1, 2])
  }

  /// One worker on a two-node topology runs its own node's items, then steals the other's.
  @Test func stolenItemsAreMarked() throws {
    let runtime = Runtime(topology: Self.twoNodes, minimumWorkPerWorker: 0)
    let (problem, q, k, v) = Self.inputs()
    let recorder = TraceRecorder()
    runtime.trace = recorder
    _ = try Attention.forward(
      problem, q: q, k: k, v: v, options: AttentionOptions(threads: 1, runtime: runtime))
    runtime.trace = nil
    let slices = recorder.slices
    #expect(slices.count == Self.items)
    #expect(slices.filter(\.stolen).count == Self.items / 2)
    #expect(Set(slices.map(\.thread)).count == 1)
  }

  @Test func chromeTraceIsValid() throws {
    let runtime = Runtime(topology: Self.twoNodes, minimumWorkPerWorker: 0)
    let (problem, q, k, v) = Self.inputs()
    let recorder = TraceRecorder()
    runtime.trace = recorder
    for i in 0..<2 {
      try recorder.span("iteration \(i)", arguments: ["i": "\(i)"]) {
        _ = try Attention.forward(
          problem, q: q, k: k, v: v, options: AttentionOptions(threads: 2, runtime: runtime))
      }
    }
    runtime.trace = nil

    let object = try JSONSerialization.jsonObject(with: recorder.chromeTraceJSON())
    let root = try #require(object as? [String: Any])
    let events = try #require(root["traceEvents"] as? [[String: Any]])
    let complete = events.filter { $0["ph"] as? String == "X" }
    let items = complete.filter { ($0["tid"] as? Int) != TraceRecorder.spanTrack }
    let spans = complete.filter { ($0["tid"] as? Int) == TraceRecorder.spanTrack }
    #expect(items.count == 2 * Self.items)
    #expect(spans.count == 2)
    // Sorted by ts; durations non-negative; every item carries its description.
    let ts = complete.compactMap { $0["ts"] as? Double }
    #expect(ts.count == complete.count)
    #expect(zip(ts, ts.dropFirst()).allSatisfy { $0 <= $1 })
    #expect(complete.allSatisfy { ($0["dur"] as? Double ?? -1) >= 0 })
    for e in items {
      let args = try #require(e["args"] as? [String: Any])
      for key in ["batch", "head", "tile", "node", "home", "stolen", "item"] {
        #expect(args[key] != nil, "missing \(key)")
      }
    }
    // Each track named by a thread_name metadata event.
    let named = Set(
      events.filter { $0["ph"] as? String == "M" && $0["name"] as? String == "thread_name" }
        .compactMap { $0["tid"] as? Int })
    #expect(Set(complete.compactMap { $0["tid"] as? Int }).isSubset(of: named))
  }

  @Test func decodeItemsAreDescribed() throws {
    let recorder = try Self.tracedDecode(splitSize: 128)
    let call = try #require(recorder.calls.first)
    #expect(call.name == "decode")
    // 2 sequences × 2 kv heads × ⌈300/128⌉ = 3 splits, one per work item (12 splits are too
    // few to run several per item on 2 workers).
    #expect(recorder.slices.count == 12)
    #expect(call.arguments(item: 0).map(\.0) == ["sequence", "kv_head", "split", "splits"])
  }

  /// With many splits, a work item runs consecutive splits of one group (`DecodeChunks`): 76
  /// splits of 16 keys on 2 workers go 2 per item, 10 items per group of 19.
  @Test func decodeItemsRunConsecutiveSplits() throws {
    let recorder = try Self.tracedDecode(splitSize: 16)
    let call = try #require(recorder.calls.first)
    #expect(recorder.slices.count == 40)
    var splits: [[Int]] = Array(repeating: [], count: 4)
    for item in 0..<40 {
      let labels = Dictionary(uniqueKeysWithValues: call.arguments(item: item))
      let group = try #require(labels["sequence"]) * 2 + (try #require(labels["kv_head"]))
      let first = try #require(labels["split"])
      let count = try #require(labels["splits"])
      #expect((1...2).contains(count))
      splits[group] += Array(first..<(first + count))
    }
    #expect(splits.allSatisfy { $0.sorted() == Array(0..<19) })
  }

  /// A traced decode call on 2 workers: 2 sequences of 300 tokens, 2 kv heads, 4 query heads,
  /// D = 16.
  static func tracedDecode(splitSize: Int) throws -> TraceRecorder {
    let runtime = Runtime(topology: Self.twoNodes, minimumWorkPerWorker: 0)
    let cache = try ContiguousKVCache(
      sequences: 2, capacity: 300, kvHeads: 2, headDim: 16, runtime: runtime)
    var g = SplitMix64(seed: 9)
    for s in 0..<2 {
      try cache.append(sequence: s, keys: g.floats(300 * 2 * 16), values: g.floats(300 * 2 * 16))
    }
    let recorder = TraceRecorder()
    runtime.trace = recorder
    _ = try Decode.forward(
      DecodeProblem(batch: 2, queryHeads: 4), queries: g.floats(2 * 4 * 16), cache: cache,
      options: DecodeOptions(threads: 2, splitSize: splitSize, runtime: runtime))
    runtime.trace = nil
    return recorder
  }
}
