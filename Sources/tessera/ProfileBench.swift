import ArgumentParser
import Foundation
import Tessera

/// `tessera bench --profile FILE`: a model's attention, one layer at a time, and the estimate
/// for the whole model (time per layer × layers of that kind).
///
/// Prefill runs Sq = Skv = context with the profile's causal mask (a window layer sees W keys,
/// itself included), scale and score modifiers, through `Attention.forward` as plain `bench`
/// does. Decode fills a contiguous cache of `--batch` sequences × context tokens and times one
/// new token per sequence through `Decode.forward`. A model whose layers alternate sliding and
/// global attention (Gemma 2) runs both kinds and adds them up by their counts.
extension BenchCommand {
  func executeProfile(_ options: ProfileOptions, path: String) throws {
    try refuseShapeOptions()
    let profile = try ModelProfile.load(path: path)
    let context = options.context ?? min(4096, profile.maxContext)
    if context > profile.maxContext {
      Console.warning(
        "--context \(context) exceeds \(profile.name)'s published maximum of"
          + " \(profile.maxContext) tokens")
    }
    var report = ProfileReport(
      profile: profile.name, file: path, phase: (options.phase ?? .prefill).rawValue,
      context: context,
      batch: batch, threads: threads ?? ProcessInfo.processInfo.activeProcessorCount,
      layerCount: profile.layers)
    switch options.phase ?? .prefill {
    case .prefill:
      let peakGFLOPS = peak ? PeakProbe.fmaGFLOPS(threads: report.threads, seconds: 0.05) : nil
      for (kind, count) in profile.layerKinds {
        report.layers.append(
          try prefillLayer(profile, kind: kind, count: count, context: context, peak: peakGFLOPS))
      }
    case .decode:
      report.cacheDtype = options.cacheDtype.rawValue
      let cache = try fillCache(profile, context: context, type: options.cacheDtype.scalarType)
      for (kind, count) in profile.layerKinds {
        report.layers.append(
          try decodeLayer(
            profile, kind: kind, count: count, cache: cache, type: options.cacheDtype.scalarType,
            split: split ?? DecodeOptions.defaultSplitSize))
      }
    }
    report.modelMedianMs = report.layers.reduce(0) { $0 + Double($1.count) * $1.medianMs }
    report.modelMinMs = report.layers.reduce(0) { $0 + Double($1.count) * $1.minMs }
    print(json ? try report.json() : report.text(profile))
  }

  /// The shape and mask options would be silently overridden by the profile: refuse them.
  private func refuseShapeOptions() throws {
    var given: [String] = []
    if kvHeads != nil { given.append("--kv-heads") }
    if kvSeq != nil { given.append("--kv-seq") }
    if valueDim != nil { given.append("--value-dim") }
    if scale != nil { given.append("--scale") }
    if maskOptions.causal || maskOptions.causalTopLeft { given.append("--causal") }
    if maskOptions.window != nil || maskOptions.windowRight != nil { given.append("--window") }
    if modifierOptions.softcap != nil { given.append("--softcap") }
    if modifierOptions.alibi { given.append("--alibi") }
    if modifierOptions.sink != nil { given.append("--sink") }
    if variant != .softmax { given.append("--variant") }
    if !given.isEmpty {
      throw CLIError(
        "\(given.joined(separator: ", ")) conflict with --profile: the profile sets the shape,"
          + " mask and modifiers")
    }
  }

  private func prefillLayer(
    _ profile: ModelProfile, kind: ProfileLayerKind, count: Int, context: Int, peak: Double?
  ) throws -> ProfileLayerResult {
    let shape = AttentionShape(
      batch: batch, queryHeads: profile.queryHeads, kvHeads: profile.kvHeads,
      queryLength: context, keyLength: context, headDim: profile.headDim,
      valueDim: profile.valueDim)
    var problem = AttentionProblem(
      shape: shape, mask: profile.mask(kind), scale: profile.scale,
      modifiers: profile.modifiers(), order: layout)
    problem.query.scalarType = qoDtype.scalarType
    problem.output.scalarType = qoDtype.scalarType
    problem.key.scalarType = dtype.scalarType
    problem.value.scalarType = dtype.scalarType
    let options = prefillOptions
    let counts = try prefillCounts(problem, options: options)
    let buffers = BenchBuffers(problem: problem, counts: counts, seed: seed)
    defer { buffers.deallocate() }
    for _ in 0..<warmup { try buffers.forward(problem, options: options) }
    var samples: [Double] = []
    for _ in 0..<iterations {
      samples.append(try Stopwatch.seconds { try buffers.forward(problem, options: options) })
    }
    let timing = TimingSummary(samples: samples)
    let bench = BenchReport(
      problem: problem, options: options, layout: layout, timing: timing, warmup: warmup,
      seed: seed, peakGFLOPS: peak)
    return ProfileLayerResult(
      kind: kind.description, window: kind.window, count: count, medianMs: timing.median * 1e3,
      minMs: timing.min * 1e3, gflops: problem.flops / timing.median / 1e9, bytesRead: nil,
      medianGbps: nil, bench: bench)
  }

  /// A contiguous cache of `batch` sequences × `context` random tokens; every layer kind of
  /// the profile reads the same cache (a real model has one per layer, all alike in shape).
  private func fillCache(_ profile: ModelProfile, context: Int, type: ScalarType) throws
    -> ContiguousKVCache
  {
    let bytes =
      Double(batch) * Double(context) * Double(profile.kvHeads)
      * Double((profile.headDim + profile.valueDim) * type.byteCount)
    try Console.requireMemory(bytes, for: "the KV cache", fraction: 0.7)
    let cache = try ContiguousKVCache(
      sequences: batch, capacity: context, kvHeads: profile.kvHeads, headDim: profile.headDim,
      valueDim: profile.valueDim, scalarType: type)
    try DecodeFill.fillCache(
      sequences: batch, tokens: context, chunk: 1024,
      keyWidth: profile.kvHeads * profile.headDim, valueWidth: profile.kvHeads * profile.valueDim,
      seed: seed
    ) { s, k, v, n in
      try cache.append(sequence: s, keys: k, values: v, tokens: n, type: .float32)
    }
    return cache
  }

  private func decodeLayer(
    _ profile: ModelProfile, kind: ProfileLayerKind, count: Int, cache: ContiguousKVCache,
    type: ScalarType, split: Int
  ) throws -> ProfileLayerResult {
    let problem = DecodeProblem(
      batch: batch, queryHeads: profile.queryHeads, queryLength: 1, mask: profile.mask(kind),
      scale: profile.scale, modifiers: profile.modifiers(), queryType: type)
    let options = DecodeOptions(threads: threads, splitSize: split, executor: executor)
    let counts = try problem.validate(cache: cache)
    let queries = DecodeFill.buffer(count: counts.query, type: type, seed: seed &+ 1)
    let output = UnsafeMutableRawBufferPointer.allocate(
      byteCount: counts.output * type.byteCount, alignment: 64)
    defer {
      queries.deallocate()
      output.deallocate()
    }
    let bytesRead = try Decode.cacheBytesRead(problem, cache: cache, splitSize: split)
    func call() throws {
      try Decode.forward(
        problem, queries: UnsafeRawBufferPointer(queries), cache: cache, output: output,
        options: options)
    }
    for _ in 0..<warmup { try call() }
    var samples: [Double] = []
    for _ in 0..<iterations { samples.append(try Stopwatch.seconds { try call() }) }
    let timing = TimingSummary(samples: samples)
    // 4·D FLOPs per visible (query, key) pair, as prefill counts them.
    let context = cache.capacity
    let visible = kind.window.map { min($0, context) } ?? context
    let flops =
      Double(batch * profile.queryHeads * visible)
      * Double(2 * profile.headDim + 2 * profile.valueDim)
    return ProfileLayerResult(
      kind: kind.description, window: kind.window, count: count, medianMs: timing.median * 1e3,
      minMs: timing.min * 1e3, gflops: flops / timing.median / 1e9, bytesRead: bytesRead,
      medianGbps: Double(bytesRead) / timing.median / 1e9, bench: nil)
  }

}

extension ProfileLayerKind {
  var window: Int? {
    if case .window(let w) = self { return w }
    return nil
  }
}

/// One layer kind of a profile run.
struct ProfileLayerResult: Encodable {
  var kind: String
  var window: Int?
  /// Layers of this kind in the model.
  var count: Int
  var medianMs: Double
  var minMs: Double
  /// 4·D FLOPs per visible pair over the median time.
  var gflops: Double
  /// Decode: bytes of K and V one call reads.
  var bytesRead: Int?
  var medianGbps: Double?
  /// Prefill: the full `bench` report of this layer.
  var bench: BenchReport?
}

/// The result of `tessera bench --profile`, as text or one JSON object.
struct ProfileReport: Encodable {
  var profile: String
  var file: String
  var phase: String
  var context: Int
  var batch: Int
  var threads: Int
  var layerCount: Int
  var cacheDtype: String?
  var layers: [ProfileLayerResult] = []
  /// Σ over layer kinds of count × time per layer: attention alone, for the whole model.
  var modelMedianMs = 0.0
  var modelMinMs = 0.0

  func json() throws -> String {
    let encoder = JSONEncoder()
    encoder.keyEncodingStrategy = .convertToSnakeCase
    encoder.outputFormatting = [.sortedKeys]
    return String(decoding: try encoder.encode(self), as: UTF8.self)
  }

  func text(_ p: ModelProfile) -> String {
    var mask = "causal"
    if let w = p.window {
      mask =
        p.globalLayerCount == 0
        ? "causal, window \(w) on every layer"
        : "causal, window \(w) on \(p.windowedLayerCount) of \(p.layers) layers"
    }
    var extras: [String] = []
    if let s = p.softcap { extras.append("softcap \(s)") }
    if let s = p.scale { extras.append("scale \(s)") }
    if p.alibi { extras.append("ALiBi") }
    if p.sinks != nil { extras.append("sinks") }
    var lines = [
      "profile  \(p.name) (\(file)): \(p.layers) layers, Hq=\(p.queryHeads) Hkv=\(p.kvHeads)"
        + " D=\(p.headDim) Dv=\(p.valueDim), \(mask)"
        + (extras.isEmpty ? "" : ", " + extras.joined(separator: ", "))
        + ", max context \(p.maxContext)",
      phase == "prefill"
        ? "phase    prefill: \(context) tokens × batch \(batch), one layer per kind, \(threads) threads"
        : "phase    decode: 1 new token × batch \(batch) against \(context) cached tokens"
          + " (\(cacheDtype ?? "?") contiguous cache), \(threads) threads",
    ]
    for layer in layers {
      lines.append("-- layer kind: \(layer.kind) (\(layer.count) of \(layerCount) layers)")
      if let bench = layer.bench {
        lines.append(bench.text)
      } else if let bytes = layer.bytesRead, let gbps = layer.medianGbps {
        lines.append(
          "time     median \(Console.fixed(layer.medianMs, 3)) ms, min"
            + " \(Console.fixed(layer.minMs, 3)) ms per layer")
        lines.append(
          "cache    \(Console.fixed(Double(bytes) / 1e6, 1)) MB read per layer:"
            + " \(Console.fixed(gbps)) GB/s at the median,"
            + " \(Console.fixed(layer.gflops)) GFLOP/s")
      }
    }
    let perToken = phase == "prefill" ? Double(batch * context) : Double(batch)
    lines.append(
      "model    attention of all \(layerCount) layers: \(Console.fixed(modelMedianMs, 3)) ms"
        + " (median; min \(Console.fixed(modelMinMs, 3)) ms) per "
        + (phase == "prefill" ? "prefill" : "decode step")
        + ", \(Console.fixed(perToken / (modelMedianMs / 1e3), 1)) tokens/s for attention alone"
        + " (no projections, MLP or sampling)")
    return lines.joined(separator: "\n")
  }
}
