import Foundation
import Testing

#if canImport(FoundationXML)
  import FoundationXML
#endif

/// Where the `tessera` executable is: `$TESSERA_BIN`, or next to (or up to two folders above)
/// the test binary, as SwiftPM lays out a build folder.
enum ScaleCLI {
  static let binary: URL? = {
    if let path = ProcessInfo.processInfo.environment["TESSERA_BIN"] {
      return URL(fileURLWithPath: path)
    }
    let me = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    var dir = me.deletingLastPathComponent()
    for _ in 0..<3 {
      let candidate = dir.appendingPathComponent("tessera")
      var isDirectory: ObjCBool = false
      if FileManager.default.fileExists(atPath: candidate.path, isDirectory: &isDirectory),
        !isDirectory.boolValue, FileManager.default.isExecutableFile(atPath: candidate.path)
      {
        return candidate
      }
      dir = dir.deletingLastPathComponent()
    }
    return nil
  }()
}

/// `tessera scale` end to end: the CSV, the SVG plot and the trace it writes. The test target
/// cannot import the executable, so it runs the `tessera` binary SwiftPM built next to the test
/// bundle (or `$TESSERA_BIN`); without one the suite is disabled.
@Suite(.enabled(if: ScaleCLI.binary != nil, "no tessera binary next to the tests"))
struct ScaleCommandTests {
  static var binary: URL? { ScaleCLI.binary }

  /// Runs `tessera scale` on a tiny sweep (2 problems × threads 1,2) into a fresh folder.
  static func sweep(_ extra: [String] = []) throws -> (URL, String) {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
      "tessera-scale-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let process = Process()
    process.executableURL = binary
    process.currentDirectoryURL = dir
    process.arguments =
      [
        "scale", "--threads", "1,2", "--seq", "64,100", "--heads", "2", "--dim", "16",
        "--iterations", "2", "--warmup", "0", "--no-peak", "--csv", "s.csv", "--plot", "s.svg",
        "--json", "s.json", "--trace", "t.json",
      ] + extra
    let out = Pipe()
    process.standardOutput = out
    process.standardError = Pipe()
    try process.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    #expect(process.terminationStatus == 0)
    return (dir, String(decoding: stdout, as: UTF8.self))
  }

  @Test func csvTableSVGAndTrace() throws {
    let (dir, table) = try Self.sweep()
    defer { try? FileManager.default.removeItem(at: dir) }
    #expect(table.contains("speedup") && table.contains("S=64 H=2 D=16"))

    // CSV: the header names the columns users script against; one row per run.
    let csv = try String(contentsOf: dir.appendingPathComponent("s.csv"), encoding: .utf8)
    let lines = csv.split(separator: "\n").map(String.init)
    let header = lines[0].split(separator: ",").map(String.init)
    for column in ["threads", "seq", "gflops", "speedup", "efficiency"] {
      #expect(header.contains(column), "CSV header lacks \(column)")
    }
    #expect(lines.count == 1 + 4)
    let threads = try #require(header.firstIndex(of: "threads"))
    let seq = try #require(header.firstIndex(of: "seq"))
    let speedup = try #require(header.firstIndex(of: "speedup"))
    let efficiency = try #require(header.firstIndex(of: "efficiency"))
    let rows = lines.dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false) }
    #expect(rows.allSatisfy { $0.count == header.count })
    #expect(rows.map { String($0[threads]) } == ["1", "2", "1", "2"])
    #expect(rows.map { String($0[seq]) } == ["64", "64", "100", "100"])
    for row in rows {
      let s = try #require(Double(row[speedup]))
      let e = try #require(Double(row[efficiency]))
      let t = try #require(Double(row[threads]))
      #expect(s > 0 && abs(e - s / t) < 1e-9)
      if t == 1 { #expect(s == 1) }
    }

    // SVG: well-formed XML with the ideal line and one series per problem.
    let svg = try Data(contentsOf: dir.appendingPathComponent("s.svg"))
    let parsed = SVGSeries(svg)
    #expect(parsed.wellFormed)
    #expect(parsed.root == "svg")
    #expect(parsed.series == ["ideal (speedup = threads)", "S=64 H=2 D=16", "S=100 H=2 D=16"])
    #expect(parsed.polylines == 3)
    #expect(parsed.texts.contains("threads"))
    #expect(parsed.texts.contains("speedup vs 1 thread"))

    // JSON: runs and the machine.
    let json = try JSONSerialization.jsonObject(
      with: Data(contentsOf: dir.appendingPathComponent("s.json")))
    let doc = try #require(json as? [String: Any])
    let machine = try #require(doc["machine"] as? [String: Any])
    for key in ["cpu_model", "cores", "numa_nodes", "build_isa"] {
      #expect(machine[key] != nil, "machine lacks \(key)")
    }
    #expect((doc["runs"] as? [Any])?.count == 4)

    // Trace: valid, one span per timed iteration, item slices on worker tracks.
    let trace = try JSONSerialization.jsonObject(
      with: Data(contentsOf: dir.appendingPathComponent("t.json")))
    let events = try #require((trace as? [String: Any])?["traceEvents"] as? [[String: Any]])
    let spans = events.filter { $0["ph"] as? String == "X" && $0["cat"] as? String == "run" }
    #expect(spans.count == 4 * 2)
    #expect(events.contains { $0["cat"] as? String == "prefill" })
  }

  @Test func weakScalingGrowsHeads() throws {
    let (dir, table) = try Self.sweep(["--mode", "weak"])
    defer { try? FileManager.default.removeItem(at: dir) }
    #expect(table.contains("H=2×t"))
    let csv = try String(contentsOf: dir.appendingPathComponent("s.csv"), encoding: .utf8)
    let rows = csv.split(separator: "\n").dropFirst().map { $0.split(separator: ",") }
    // heads column: 2 on 1 thread, 4 on 2.
    #expect(rows.map { $0[4] } == ["2", "4", "2", "4"])
  }
}

/// What the SVG parse found: root element, series names, polylines, text contents.
struct SVGSeries {
  var wellFormed = false
  var root: String?
  var series: [String] = []
  var polylines = 0
  var texts: [String] = []

  init(_ data: Data) {
    let delegate = Delegate()
    let parser = XMLParser(data: data)
    parser.delegate = delegate
    wellFormed = parser.parse()
    root = delegate.root
    series = delegate.series
    polylines = delegate.polylines
    texts = delegate.texts
  }

  final class Delegate: NSObject, XMLParserDelegate {
    var root: String?
    var series: [String] = []
    var polylines = 0
    var texts: [String] = []
    private var text: String?

    func parser(
      _ parser: XMLParser, didStartElement name: String, namespaceURI: String?,
      qualifiedName: String?, attributes: [String: String] = [:]
    ) {
      if root == nil { root = name }
      if name == "g", attributes["class"] == "series", let n = attributes["data-name"] {
        series.append(n)
      }
      if name == "polyline" { polylines += 1 }
      if name == "text" { text = "" }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) { text? += string }

    func parser(
      _ parser: XMLParser, didEndElement name: String, namespaceURI: String?,
      qualifiedName: String?
    ) {
      if name == "text", let t = text { texts.append(t) }
      if name == "text" { text = nil }
    }
  }
}
