import Foundation

extension TraceRecorder {
  /// The track (`tid`) of caller spans: not an OS thread id (those start above 0).
  public static let spanTrack = 0

  /// The trace in Chrome's Trace Event Format (`{"traceEvents": [...]}`), which Perfetto and
  /// chrome://tracing open: one track per OS thread that ran items (named by "M" metadata
  /// events after its worker slots and nodes), one complete ("X") event per work item, with
  /// `ts`/`dur` in microseconds since the recorder was made, sorted by `ts`. Item events carry
  /// the call's description of the item (batch, head, tile; …), the worker's `node`, the `home`
  /// node of its queue and `stolen`. Caller spans go on track `spanTrack`, named "runs".
  public func chromeTraceJSON(processName: String = "tessera") -> Data {
    let (calls, slices, spans) = state.withLock { ($0.calls, $0.slices, $0.spans) }
    var events: [(ts: Double, json: String)] = []
    func us(_ t: UInt64) -> Double { Double(Int64(bitPattern: t &- origin)) / 1000 }
    func number(_ x: Double) -> String { String(format: "%.3f", x) }

    var meta: [String] = [
      #"{"name":"process_name","ph":"M","pid":1,"tid":0,"args":{"name":\#(Self.quoted(processName))}}"#
    ]
    // Tracks: name each thread after the slots it worked; main thread first, workers by slot.
    var threads: [Int: (main: Bool, slots: Set<Int>, nodes: Set<Int>)] = [:]
    for s in slices {
      var t = threads[s.thread] ?? (s.mainThread, [], [])
      t.slots.insert(s.slot)
      t.nodes.insert(s.node)
      threads[s.thread] = t
    }
    let ordered = threads.sorted { a, b in
      a.value.main != b.value.main
        ? a.value.main : (a.value.slots.min() ?? 0, a.key) < (b.value.slots.min() ?? 0, b.key)
    }
    if !spans.isEmpty {
      meta.append(
        #"{"name":"thread_name","ph":"M","pid":1,"tid":\#(Self.spanTrack),"args":{"name":"runs"}}"#)
      meta.append(
        #"{"name":"thread_sort_index","ph":"M","pid":1,"tid":\#(Self.spanTrack),"args":{"sort_index":0}}"#
      )
    }
    for (position, (tid, t)) in ordered.enumerated() {
      let slots = t.slots.sorted().map(String.init).joined(separator: ",")
      let nodes = t.nodes.sorted().map { "node\($0)" }.joined(separator: ",")
      let name =
        (t.main ? "caller (main) " : "worker ") + "slot\(t.slots.count > 1 ? "s" : "") \(slots)"
        + " \(nodes) tid \(tid)"
      meta.append(
        #"{"name":"thread_name","ph":"M","pid":1,"tid":\#(tid),"args":{"name":\#(Self.quoted(name))}}"#
      )
      meta.append(
        #"{"name":"thread_sort_index","ph":"M","pid":1,"tid":\#(tid),"args":{"sort_index":\#(position + 1)}}"#
      )
    }

    for s in slices {
      let call = calls[s.call]
      let described = call.arguments(item: s.item)
      let name = ([call.name] + described.map { "\($0.0)=\($0.1)" }).joined(separator: " ")
      var args = described.map { "\(Self.quoted($0.0)):\($0.1)" }
      args += [
        #""call":\#(s.call)"#, #""item":\#(s.item)"#, #""slot":\#(s.slot)"#,
        #""node":\#(s.node)"#, #""home":\#(s.home)"#, #""stolen":\#(s.stolen)"#,
      ]
      let ts = us(s.start)
      events.append(
        (
          ts,
          #"{"name":\#(Self.quoted(name)),"cat":\#(Self.quoted(call.name)),"ph":"X","pid":1,"tid":\#(s.thread),"ts":\#(number(ts)),"dur":\#(number(Double(s.end &- s.start) / 1000)),"args":{\#(args.joined(separator: ","))}}"#
        ))
    }
    for s in spans {
      let args = s.arguments.sorted { $0.key < $1.key }.map {
        "\(Self.quoted($0.key)):\(Self.quoted($0.value))"
      }
      let ts = us(s.start)
      events.append(
        (
          ts,
          #"{"name":\#(Self.quoted(s.name)),"cat":"run","ph":"X","pid":1,"tid":\#(Self.spanTrack),"ts":\#(number(ts)),"dur":\#(number(Double(s.end &- s.start) / 1000)),"args":{\#(args.joined(separator: ","))}}"#
        ))
    }
    // Stable: equal timestamps keep their recording order.
    let sorted = events.enumerated().sorted { a, b in
      a.element.ts != b.element.ts ? a.element.ts < b.element.ts : a.offset < b.offset
    }
    let all = meta + sorted.map(\.element.json)
    let text =
      "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n" + all.joined(separator: ",\n") + "\n]}\n"
    return Data(text.utf8)
  }

  /// `s` as a JSON string literal.
  static func quoted(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
      switch u {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      case _ where u.value < 0x20: out += String(format: "\\u%04x", u.value)
      default: out.unicodeScalars.append(u)
      }
    }
    return out + "\""
  }
}
