import Foundation
import Tessera

/// `--trace FILE.json` of `bench` and `scale`: a `TraceRecorder` attached to the runtime only
/// while timed iterations run, each iteration a span on the "runs" track, written as a
/// Chrome/Perfetto trace at the end.
struct TraceOutput {
  let path: String
  let recorder = TraceRecorder()

  init?(path: String?) {
    guard let path else { return nil }
    self.path = path
  }

  /// Runs `body` with the recorder attached to `runtime`, as a span named `name`.
  func record<T>(
    on runtime: Runtime, _ name: String, arguments: [String: String] = [:], _ body: () throws -> T
  ) rethrows -> T {
    runtime.trace = recorder
    defer { runtime.trace = nil }
    return try recorder.span(name, arguments: arguments, body)
  }

  /// Writes the trace and says where on stderr.
  func write() throws {
    let data = recorder.chromeTraceJSON()
    try data.write(to: URL(fileURLWithPath: path))
    let items = recorder.slices.count
    let threads = Set(recorder.slices.map(\.thread)).count
    FileHandle.standardError.write(
      Data(
        "trace: \(items) work items on \(threads) thread(s) → \(path) (open in ui.perfetto.dev)\n"
          .utf8))
  }
}
