import Foundation
import Testing

/// The workload profiles in `Profiles/models/` and `tessera bench --profile`.
///
/// The profile parser lives in the `tessera` executable, which this test target does not link,
/// so these tests run the built tool (SwiftPM builds it next to the test bundle) the way a user
/// does, and read its exit status, stderr and `--json` output.
@Suite struct ProfileTests {
  static let repository = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
  static let modelsDirectory = repository.appendingPathComponent("Profiles/models")

  static var profilePaths: [String] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: modelsDirectory.path)) ?? []
    return names.filter { $0.hasSuffix(".json") }.sorted().map {
      modelsDirectory.appendingPathComponent($0).path
    }
  }

  /// The `tessera` executable of this build: next to the test bundle (Linux), or a few
  /// directories up from the bundle's executable (macOS `.xctest` bundles).
  static let tool: URL? = {
    let exe =
      (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
      ?? CommandLine.arguments[0]
    var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
    for _ in 0..<5 {
      let candidate = dir.appendingPathComponent("tessera")
      var isDirectory: ObjCBool = false
      if FileManager.default.fileExists(atPath: candidate.path, isDirectory: &isDirectory),
        !isDirectory.boolValue
      {
        return candidate
      }
      dir = dir.deletingLastPathComponent()
    }
    return nil
  }()

  struct Run {
    var status: Int32
    var stdout: String
    var stderr: String
  }

  static func run(_ arguments: [String]) throws -> Run {
    let tool = try #require(tool, "the tessera executable was not built next to the tests")
    let process = Process()
    process.executableURL = tool
    process.arguments = arguments
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return Run(
      status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
      stderr: String(decoding: errData, as: UTF8.self))
  }

  static func object(_ path: String) throws -> [String: Any] {
    let data = try #require(FileManager.default.contents(atPath: path))
    return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
  }

  @Test func theRequiredModelsAreCheckedIn() {
    let names = Set(Self.profilePaths.map { URL(fileURLWithPath: $0).lastPathComponent })
    for required in [
      "llama-3.1-8b.json", "llama-3.1-70b.json", "mistral-7b-v0.1.json", "gemma-2-9b.json",
      "qwen2.5-7b.json", "phi-3-mini-4k.json",
    ] {
      #expect(names.contains(required), "Profiles/models/\(required) is missing")
    }
  }

  /// The numbers of the published configurations (config.json on Hugging Face), so an edit
  /// that breaks one is caught.
  @Test func publishedNumbers() throws {
    func check(
      _ file: String, layers: Int, q: Int, kv: Int, d: Int, window: Int?, softcap: Double?,
      sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
      let p = try Self.object(Self.modelsDirectory.appendingPathComponent(file).path)
      #expect(p["layers"] as? Int == layers, sourceLocation: sourceLocation)
      #expect(p["queryHeads"] as? Int == q, sourceLocation: sourceLocation)
      #expect(p["kvHeads"] as? Int == kv, sourceLocation: sourceLocation)
      #expect(p["headDim"] as? Int == d, sourceLocation: sourceLocation)
      #expect(p["valueDim"] as? Int == d, sourceLocation: sourceLocation)
      #expect((p["window"] as? Int) == window, sourceLocation: sourceLocation)
      #expect((p["softcap"] as? Double) == softcap, sourceLocation: sourceLocation)
      #expect(((p["source"] as? String) ?? "").count > 40, sourceLocation: sourceLocation)
    }
    try check("llama-3.1-8b.json", layers: 32, q: 32, kv: 8, d: 128, window: nil, softcap: nil)
    try check("llama-3.1-70b.json", layers: 80, q: 64, kv: 8, d: 128, window: nil, softcap: nil)
    try check(
      "mistral-7b-v0.1.json", layers: 32, q: 32, kv: 8, d: 128, window: 4096, softcap: nil)
    try check("gemma-2-9b.json", layers: 42, q: 16, kv: 8, d: 256, window: 4096, softcap: 50)
    try check("qwen2.5-7b.json", layers: 28, q: 28, kv: 4, d: 128, window: nil, softcap: nil)
    try check("phi-3-mini-4k.json", layers: 32, q: 32, kv: 32, d: 96, window: nil, softcap: nil)
    let gemma = try Self.object(Self.modelsDirectory.appendingPathComponent("gemma-2-9b.json").path)
    #expect(gemma["windowLayers"] as? Int == 21)
    #expect(gemma["scale"] as? Double == 0.0625)
  }

  /// Every checked-in profile loads, validates and runs through both phases; the layer kinds add
  /// up to the model's layers.
  @Test(arguments: ["prefill", "decode"])
  func everyProfileRuns(phase: String) throws {
    #expect(!Self.profilePaths.isEmpty)
    for path in Self.profilePaths {
      let r = try Self.run([
        "bench", "--profile", path, "--phase", phase, "--context", "80", "--batch", "2",
        "--iterations", "1", "--warmup", "0", "--threads", "2", "--no-peak", "--json",
      ])
      #expect(r.status == 0, "\(path) \(phase): \(r.stderr)")
      guard r.status == 0 else { continue }
      let report = try #require(
        try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
      let layers = try #require(report["layers"] as? [[String: Any]])
      let counted = layers.reduce(0) { $0 + (($1["count"] as? Int) ?? 0) }
      let file = try Self.object(path)
      #expect(counted == file["layers"] as? Int, "\(path)")
      #expect(report["phase"] as? String == phase)
      #expect(report["context"] as? Int == 80)
      #expect(((report["model_median_ms"] as? Double) ?? 0) > 0, "\(path)")
      if phase == "decode" {
        for layer in layers { #expect(((layer["bytes_read"] as? Int) ?? 0) > 0, "\(path)") }
      }
    }
  }

  /// A malformed profile is an error that names the field, with exit status 1.
  @Test(arguments: [
    ("kvHeads", #"{"name": "x", "layers": 2}"#),
    ("headDim", #"{"headDim": "128"}"#),
    ("kvHeads", #"{"queryHeads": 32, "kvHeads": 5}"#),
    ("kvheads", #"{"kvheads": 8}"#),
    ("softcap", #"{"softcap": -1}"#),
    ("window", #"{"window": 0}"#),
    ("windowLayers", #"{"window": 64, "windowLayers": 99}"#),
    ("alibi", #"{"alibi": 0}"#),
    ("layers", #"{"layers": 2.5}"#),
    ("sinks", #"{"sinks": [1, 2, 3]}"#),
  ])
  func malformedProfileNamesTheField(field: String, patch: String) throws {
    var profile = try Self.object(
      Self.modelsDirectory.appendingPathComponent("llama-3.1-8b.json").path)
    let edits = try #require(
      try JSONSerialization.jsonObject(with: Data(patch.utf8)) as? [String: Any])
    if field == "kvHeads" && edits["kvHeads"] == nil {
      profile["kvHeads"] = nil  // the "missing field" case
    }
    for (k, v) in edits { profile[k] = v }
    let url = FileManager.default.temporaryDirectory
      .appendingPathComponent("tessera-profile-\(field)-\(UUID().uuidString).json")
    try JSONSerialization.data(withJSONObject: profile).write(to: url)
    defer { try? FileManager.default.removeItem(at: url) }
    let r = try Self.run(["bench", "--profile", url.path, "--context", "16", "--no-peak"])
    #expect(r.status == 1, "\(r.stderr)")
    #expect(r.stderr.contains("field \"\(field)\""), "stderr: \(r.stderr)")
    #expect(r.stdout.isEmpty)
  }

  @Test func notJSONAndMissingFileAreErrors() throws {
    let url = FileManager.default.temporaryDirectory
      .appendingPathComponent("tessera-profile-bad-\(UUID().uuidString).json")
    try Data("{ layers: 32 ".utf8).write(to: url)
    defer { try? FileManager.default.removeItem(at: url) }
    let bad = try Self.run(["bench", "--profile", url.path, "--no-peak"])
    #expect(bad.status == 1)
    #expect(bad.stderr.contains("not valid JSON"), "\(bad.stderr)")
    let missing = try Self.run(["bench", "--profile", "/nonexistent/profile.json", "--no-peak"])
    #expect(missing.status == 1)
    #expect(missing.stderr.contains("cannot read"), "\(missing.stderr)")
  }

  @Test func shapeOptionsConflictWithAProfile() throws {
    let path = Self.modelsDirectory.appendingPathComponent("llama-3.1-8b.json").path
    let r = try Self.run(["bench", "--profile", path, "--softcap", "30", "--no-peak"])
    #expect(r.status == 1)
    #expect(r.stderr.contains("--softcap"), "\(r.stderr)")
  }
}
