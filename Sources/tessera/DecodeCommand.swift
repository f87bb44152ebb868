import ArgumentParser
import Dispatch
import Foundation
import Tessera

/// `--dtype` of `tessera decode`: storage of the cache, the queries and the output.
enum DecodeDTypeArgument: String, CaseIterable, ExpressibleByArgument {
  case f32, f16, bf16

  var scalarType: ScalarType {
    switch self {
    case .f32: .float32
    case .f16: .float16
    case .bf16: .bfloat16
    }
  }
}

/// `tessera decode`: times flash-decoding against a filled KV cache and reports the cache read
/// bandwidth next to a STREAM-like triad measured in the same run.
struct DecodeCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "decode",
    abstract: "Time split-KV decode against a KV cache on random data.",
    discussion: """
      Fills a contiguous (or, with --paged, a paged) cache of --batch sequences × --kv-seq \
      tokens with random data, then times Decode.forward for --seq new tokens per sequence. \
      Bandwidth counts the bytes of K and V the call reads (each visible cached row once per \
      kv head); the triad (a[i] = b[i] + s·c[i], 3 × 256 MiB) runs on the same threads right \
      before, so the ratio compares two numbers taken under the same machine conditions. The \
      paged cache is filled round-robin one block per sequence at a time, as a server \
      interleaves requests, so each sequence's blocks are scattered through the pool.
      """)

  @Option(help: "Sequences decoded together.") var batch = 4
  @Option(help: "Query heads.") var heads = 32
  @Option(help: "Key/value heads (GQA); default: --heads.") var kvHeads: Int?
  @Option(help: "Head dimension (Q, K, V).") var dim = 128
  @Option(help: "Cached tokens per sequence.") var kvSeq = 32768
  @Option(help: "New query tokens per sequence (Sq).") var seq = 1
  @Option(help: "Storage of the cache, queries and output: f32, f16 or bf16.")
  var dtype: DecodeDTypeArgument = .f16
  @Flag(help: "Use a paged cache instead of a contiguous one.") var paged = false
  @Option(help: "Tokens per block of the paged cache.") var blockSize = 16
  @Option(help: "Worker threads; default: every CPU available.") var threads: Int?
  @Option(help: "Keys per split (fixed by the call, never by the thread count).")
  var split = DecodeOptions.defaultSplitSize
  @Option(help: "Sliding window: keys visible left of the diagonal.") var window: Int?
  @Option(help: "Timed iterations.") var iterations = 10
  @Option(help: "Untimed iterations first.") var warmup = 2
  @Option(help: "Seed of the random data.") var seed: UInt64 = 42
  @Flag(inversion: .prefixedNo, help: "Measure the triad bandwidth in the same run.")
  var triad = true
  @Flag(help: "Print one JSON object instead of text.") var json = false

  func validate() throws {
    for (name, value) in [
      ("--batch", batch), ("--heads", heads), ("--dim", dim), ("--kv-seq", kvSeq), ("--seq", seq),
      ("--block-size", blockSize), ("--split", split), ("--iterations", iterations),
    ] where value < 1 {
      throw ValidationError("\(name) must be at least 1")
    }
    if let kvHeads, kvHeads < 1 || heads % kvHeads != 0 {
      throw ValidationError("--kv-heads must divide --heads")
    }
    if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    if warmup < 0 { throw ValidationError("--warmup must be non-negative") }
    if let window, window < 0 { throw ValidationError("--window must be non-negative") }
    if seq > kvSeq { throw ValidationError("--seq must not exceed --kv-seq") }
  }

  func run() throws {
    try Console.reportingErrors { try execute() }
  }

  private func execute() throws {
    let kvHeads = kvHeads ?? heads
    let type = dtype.scalarType
    let threads = threads ?? ProcessInfo.processInfo.activeProcessorCount
    let cacheBytes =
      Double(batch) * Double(kvSeq) * Double(kvHeads) * Double(2 * dim * type.byteCount)
    let memory = Double(ProcessInfo.processInfo.physicalMemory)
    if cacheBytes > 0.7 * memory {
      throw CLIError(
        "the cache needs \(Console.fixed(cacheBytes / 1e9)) GB; this machine has"
          + " \(Console.fixed(memory / 1e9)) GB of memory")
    }

    let fillStart = DispatchTime.now().uptimeNanoseconds
    let cache: KVCache
    if paged {
      let blocksPerSequence = (kvSeq + blockSize - 1) / blockSize
      let c = try PagedKVCache(
        sequences: batch, blocks: batch * blocksPerSequence, blockSize: blockSize,
        kvHeads: kvHeads, headDim: dim, scalarType: type)
      try fill(chunk: blockSize) { s, k, v, n in
        try c.append(sequence: s, keys: k, values: v, tokens: n, type: .float32)
      }
      cache = c
    } else {
      let c = try ContiguousKVCache(
        sequences: batch, capacity: kvSeq, kvHeads: kvHeads, headDim: dim, scalarType: type)
      try fill(chunk: 1024) { s, k, v, n in
        try c.append(sequence: s, keys: k, values: v, tokens: n, type: .float32)
      }
      cache = c
    }
    let fillSeconds = Double(DispatchTime.now().uptimeNanoseconds - fillStart) / 1e9

    let mask = window.map { AttentionMask.slidingWindow(left: $0) } ?? .causal
    let problem = DecodeProblem(
      batch: batch, queryHeads: heads, queryLength: seq, mask: mask, queryType: type)
    let options = DecodeOptions(threads: threads, splitSize: split)
    let counts = try problem.validate(cache: cache)
    var generator = DecodeFill(seed: seed &+ 1)
    var queryFloats = [Float](repeating: 0, count: counts.query)
    generator.fill(&queryFloats)
    let queries = UnsafeMutableRawBufferPointer.allocate(
      byteCount: counts.query * type.byteCount, alignment: 64)
    let output = UnsafeMutableRawBufferPointer.allocate(
      byteCount: counts.output * type.byteCount, alignment: 64)
    let lse = UnsafeMutableBufferPointer<Float>.allocate(capacity: counts.lse)
    defer {
      queries.deallocate()
      output.deallocate()
      lse.deallocate()
    }
    DecodeFill.store(queryFloats, as: type, into: queries)
    let bytesRead = try Decode.cacheBytesRead(problem, cache: cache, splitSize: split)

    func once() throws -> Double {
      let start = DispatchTime.now().uptimeNanoseconds
      try Decode.forward(
        problem, queries: UnsafeRawBufferPointer(queries), cache: cache, output: output, lse: lse,
        options: options)
      return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }
    for _ in 0..<warmup { _ = try once() }
    let triadGBps = triad ? PeakProbe.triadGBps(threads: threads) : nil
    var samples: [Double] = []
    let cpuBefore = Self.processCPUSeconds()
    for _ in 0..<iterations { samples.append(try once()) }
    // CPU time over wall time × threads: well below 1 means other processes took the cores
    // (the bandwidth figures then understate the kernel).
    let cpuBusy = (Self.processCPUSeconds() - cpuBefore) / (samples.reduce(0, +) * Double(threads))
    samples.sort()
    let median = samples[samples.count / 2]
    let best = samples[0]
    let medianGBps = Double(bytesRead) / median / 1e9
    let bestGBps = Double(bytesRead) / best / 1e9
    let finite = (0..<counts.lse).allSatisfy { lse[$0].isFinite }

    if json {
      var fields: [String] = [
        "\"command\": \"decode\"", "\"batch\": \(batch)", "\"heads\": \(heads)",
        "\"kv_heads\": \(kvHeads)", "\"dim\": \(dim)", "\"kv_seq\": \(kvSeq)", "\"seq\": \(seq)",
        "\"dtype\": \"\(dtype.rawValue)\"", "\"paged\": \(paged)",
        "\"block_size\": \(paged ? "\(blockSize)" : "null")", "\"threads\": \(threads)",
        "\"split\": \(split)", "\"iterations\": \(iterations)", "\"bytes_read\": \(bytesRead)",
        "\"median_s\": \(median)", "\"min_s\": \(best)", "\"median_gbps\": \(medianGBps)",
        "\"best_gbps\": \(bestGBps)", "\"lse_finite\": \(finite)", "\"cpu_busy\": \(cpuBusy)",
      ]
      if let triadGBps {
        fields += [
          "\"triad_gbps\": \(triadGBps)", "\"median_fraction_of_triad\": \(medianGBps / triadGBps)",
          "\"best_fraction_of_triad\": \(bestGBps / triadGBps)",
        ]
      }
      print("{" + fields.joined(separator: ", ") + "}")
      return
    }
    print(
      "decode B=\(batch) Hq=\(heads) Hkv=\(kvHeads) D=\(dim) Skv=\(kvSeq) Sq=\(seq) \(dtype.rawValue)"
        + (paged ? " paged(block \(blockSize))" : " contiguous")
        + " threads=\(threads) split=\(split)")
    print(
      "  cache read per call: \(Console.fixed(Double(bytesRead) / 1e6, 1)) MB"
        + " (filled in \(Console.fixed(fillSeconds, 1)) s)")
    print(
      "  time: median \(Console.fixed(median * 1e3, 3)) ms, min \(Console.fixed(best * 1e3, 3)) ms"
        + " over \(iterations) iterations; CPU busy \(Console.fixed(100 * cpuBusy, 0)) % of"
        + " \(threads) threads × wall time")
    print(
      "  bandwidth: median \(Console.fixed(medianGBps)) GB/s, best \(Console.fixed(bestGBps)) GB/s")
    if let triadGBps {
      print(
        "  triad (same run, \(threads) threads): \(Console.fixed(triadGBps)) GB/s;"
          + " decode/triad: median \(Console.fixed(100 * medianGBps / triadGBps, 1)) %,"
          + " best \(Console.fixed(100 * bestGBps / triadGBps, 1)) %")
    }
    if !finite { Console.warning("some LSE values are not finite") }
  }

  /// User + system CPU time of the process so far.
  static func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
  }

  /// Appends random Float32 tokens to every sequence, `chunk` tokens at a time, round-robin
  /// over the sequences.
  private func fill(
    chunk: Int,
    _ append: (Int, UnsafeRawBufferPointer, UnsafeRawBufferPointer, Int) throws -> Void
  ) throws {
    let kvHeads = kvHeads ?? heads
    var generator = DecodeFill(seed: seed)
    var keys = [Float](repeating: 0, count: chunk * kvHeads * dim)
    var values = keys
    var t = 0
    while t < kvSeq {
      let n = min(chunk, kvSeq - t)
      for s in 0..<batch {
        generator.fill(&keys)
        generator.fill(&values)
        try keys.withUnsafeBytes { k in
          try values.withUnsafeBytes { v in try append(s, k, v, n) }
        }
      }
      t += n
    }
  }
}

/// A fast xorshift generator for benchmark data (uniform in [-1, 1)).
struct DecodeFill {
  var state: UInt64

  init(seed: UInt64) { state = seed | 1 }

  mutating func fill(_ x: inout [Float]) {
    for i in x.indices {
      state ^= state << 13
      state ^= state >> 7
      state ^= state << 17
      x[i] = Float(Int32(truncatingIfNeeded: state >> 32)) * (1 / 2_147_483_648)
    }
  }

  static func store(_ x: [Float], as type: ScalarType, into buffer: UnsafeMutableRawBufferPointer) {
    for (i, v) in x.enumerated() {
      switch type {
      case .float32: buffer.storeBytes(of: v, toByteOffset: 4 * i, as: Float.self)
      case .float16: buffer.storeBytes(of: Float16(v), toByteOffset: 2 * i, as: Float16.self)
      case .bfloat16:
        buffer.storeBytes(of: BFloat16(v).bitPattern, toByteOffset: 2 * i, as: UInt16.self)
      }
    }
  }
}
