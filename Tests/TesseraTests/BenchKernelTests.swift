import Foundation
import Testing

/// `tessera bench` picks the decode kernel for a decode shape (Sq ≤ 16 < Skv), honours
/// `--kernel`, and refuses options of the kernel it does not run. The routing lives in the
/// executable, so these tests run the built tool as `ProfileTests` does. Shapes are small
/// (2048 cached tokens, 2 kv heads, D = 64: 2 MiB of f32 cache) so each run takes well under a
/// second.
@Suite struct BenchKernelTests {
  static let decodeShape = [
    "bench", "--seq", "1", "--kv-seq", "2048", "--heads", "8", "--kv-heads", "2", "--dim", "64",
    "--iterations", "1", "--warmup", "0",
  ]

  static func json(_ run: ProfileTests.Run) throws -> [String: Any] {
    let line = try #require(run.stdout.split(separator: "\n").last.map(String.init))
    return try #require(
      try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(run.stdout)")
  }

  /// Bytes of K and V one call reads: every cached row once per kv head, f32.
  static let cacheBytes = 2048 * 2 * (64 + 64) * 4

  @Test func decodeShapeRunsDecode() throws {
    let r = try ProfileTests.run(Self.decodeShape + ["--no-triad", "--json"])
    #expect(r.status == 0, "\(r.stderr)")
    let o = try Self.json(r)
    #expect(o["command"] as? String == "decode")
    #expect(o["kernel"] as? String == "decode")
    #expect(o["seq"] as? Int == 1)
    #expect(o["kv_seq"] as? Int == 2048)
    #expect(o["heads"] as? Int == 8)
    #expect(o["kv_heads"] as? Int == 2)
    #expect(o["dim"] as? Int == 64)
    #expect(o["dtype"] as? String == "f32")
    #expect(o["qo_dtype"] as? String == "f32")
    #expect(o["paged"] as? Bool == false)
    #expect(o["block_size"] is NSNull)
    #expect(o["split"] as? Int == 1024)
    #expect(o["bytes_read"] as? Int == Self.cacheBytes)
    #expect(o["lse_finite"] as? Bool == true)
    #expect((o["median_gbps"] as? Double ?? 0) > 0)
    // --no-triad: no triad figures; and never the prefill kernel's FMA peak.
    #expect(o["triad_gbps"] == nil)
    #expect(o["peak_gflops"] == nil && o["gflops"] == nil)
  }

  /// With the triad (the default), one triad pass runs right before each call and the paired
  /// ratio is that call's GB/s over its pass: with one call, exactly median_gbps / paired triad.
  @Test func decodeTriadIsPairedWithEachCall() throws {
    let r = try ProfileTests.run(Self.decodeShape + ["--json"])
    #expect(r.status == 0, "\(r.stderr)")
    let o = try Self.json(r)
    let gbps = try #require(o["median_gbps"] as? Double)
    let triad = try #require(o["triad_gbps"] as? Double)
    let paired = try #require(o["paired_triad_gbps"] as? Double)
    let fraction = try #require(o["paired_median_fraction_of_triad"] as? Double)
    #expect(triad > 0 && paired > 0)
    #expect(abs(fraction - gbps / paired) <= 1e-9 * fraction, "\(o)")
    #expect(abs((o["median_fraction_of_triad"] as? Double ?? 0) - gbps / triad) <= 1e-9)
  }

  /// The variant flags reach the decode kernel: the report names them, and a left window of 64
  /// reads only the 65 keys it shows (bf16: 2 bytes per element).
  @Test func decodeVariantFlags() throws {
    let flags = ["--window", "64", "--softcap", "30", "--alibi", "--dtype", "bf16", "--no-triad"]
    let text = try ProfileTests.run(Self.decodeShape + flags)
    #expect(text.status == 0, "\(text.stderr)")
    #expect(text.stdout.contains("mask window-left=64, scale 0.125, softcap 30.0, alibi"))
    let r = try ProfileTests.run(Self.decodeShape + flags + ["--json"])
    #expect(r.status == 0, "\(r.stderr)")
    let o = try Self.json(r)
    #expect(o["mask"] as? String == "window-left=64")
    #expect(o["dtype"] as? String == "bf16")
    #expect(o["bytes_read"] as? Int == 65 * 2 * (64 + 64) * 2)
    #expect(o["lse_finite"] as? Bool == true)
  }

  @Test func pagedDecode() throws {
    let r = try ProfileTests.run(
      Self.decodeShape + ["--paged", "--block-size", "16", "--no-triad", "--json"])
    #expect(r.status == 0, "\(r.stderr)")
    let o = try Self.json(r)
    #expect(o["kernel"] as? String == "decode")
    #expect(o["paged"] as? Bool == true)
    #expect(o["block_size"] as? Int == 16)
    #expect(o["bytes_read"] as? Int == Self.cacheBytes)
  }

  @Test func textReportOpensWithTheKernel() throws {
    let r = try ProfileTests.run(Self.decodeShape + ["--no-triad"])
    #expect(r.status == 0, "\(r.stderr)")
    let first = r.stdout.split(separator: "\n").first.map(String.init) ?? ""
    #expect(first.hasPrefix("decode kernel (auto: Sq=1 ≤ 16 < Skv=2048"), "\(r.stdout)")
  }

  @Test func kernelPrefillForcesPrefill() throws {
    let r = try ProfileTests.run(Self.decodeShape + ["--kernel", "prefill", "--no-peak", "--json"])
    #expect(r.status == 0, "\(r.stderr)")
    let o = try Self.json(r)
    #expect(o["kernel"] as? String == "prefill")
    #expect(o["command"] == nil)
    #expect(o["seq"] as? Int == 1)
    #expect(o["kv_seq"] as? Int == 2048)
    #expect((o["gflops"] as? Double ?? 0) > 0)
  }

  /// Sq = 17 is past the decode limit: auto stays on prefill.
  @Test func longerChunksStayOnPrefill() throws {
    var arguments = Self.decodeShape
    arguments[2] = "17"
    let r = try ProfileTests.run(arguments + ["--no-peak", "--json"])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(try Self.json(r)["kernel"] as? String == "prefill")
  }

  /// An option of the other kernel is one error line naming it and `--kernel`, never ignored.
  @Test(arguments: [
    (["--layout", "bshd"], "--layout", "--kernel prefill"),
    (["--tile-q", "48"], "--tile-q", "--kernel prefill"),
    (["--value-dim", "32"], "--value-dim", "--kernel prefill"),
    (["--kernel", "prefill", "--paged"], "--paged", "--kernel decode"),
    (["--kernel", "prefill", "--split", "256"], "--split", "--kernel decode"),
  ])
  func otherKernelsOptionsAreRefused(extra: [String], option: String, hint: String) throws {
    let r = try ProfileTests.run(Self.decodeShape + extra)
    #expect(r.status != 0)
    #expect(r.stdout.isEmpty)
    let lines = r.stderr.split(separator: "\n")
    #expect(lines.count == 1, "\(r.stderr)")
    #expect(r.stderr.contains(option) && r.stderr.contains(hint), "\(r.stderr)")
  }

  @Test func kernelDecodeNeedsFewerQueriesThanKeys() throws {
    var arguments = Self.decodeShape
    arguments[4] = "1"
    let r = try ProfileTests.run(arguments + ["--kernel", "decode"])
    #expect(r.status != 0)
    #expect(r.stderr.contains("--kernel decode"), "\(r.stderr)")
  }

  /// `tessera decode` keeps its JSON: no bench-only fields.
  @Test func decodeCommandKeepsItsFormat() throws {
    let r = try ProfileTests.run([
      "decode", "--batch", "1", "--heads", "8", "--kv-heads", "2", "--dim", "64", "--kv-seq",
      "2048", "--iterations", "1", "--warmup", "0", "--no-triad", "--json",
    ])
    #expect(r.status == 0, "\(r.stderr)")
    let o = try Self.json(r)
    #expect(o["command"] as? String == "decode")
    #expect(o["kernel"] == nil && o["qo_dtype"] == nil && o["mask"] == nil)
    #expect(r.stdout.hasPrefix("{\"command\": \"decode\", \"batch\": 1, \"heads\": 8,"))
  }
}
