import ArgumentParser
import Foundation
import Tessera

/// `tessera bench`: times `Attention.forward` on random data, or `Decode.forward` against a
/// filled KV cache when the shape is a decode step (see `BenchCommand+Kernel.swift`).
struct BenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench",
    abstract: "Time the attention kernel on random data.",
    discussion: """
      Inputs are allocated and filled once (seeded, uniform in [-1, 1)); only the kernel is \
      timed. FLOPs count 2·D for Q·Kᵀ and 2·Dv for P·V per unmasked (query, key) pair. The \
      FMA peak is measured in the same run (unless --no-peak) to report a fraction of it.

      A decode shape (--seq ≤ 16 new tokens below --kv-seq cached ones, --variant softmax) \
      runs the decode kernel instead, as `tessera decode` does: --kv-seq tokens per sequence \
      are cached (--dtype; --paged for a paged cache) and the report gives GB/s of cache read \
      against a triad measured in the same run. --kernel prefill|decode forces one kernel.
      """)

  @Option(help: "Batch size.") var batch = 1
  @Option(help: "Query heads.") var heads = 8
  @Option(help: "Key/value heads (GQA); default: --heads.") var kvHeads: Int?
  @Option(help: "Query length.") var seq = 4096
  @Option(help: "Key/value length; default: --seq.") var kvSeq: Int?
  @Option(help: "Head dimension of Q and K.") var dim = 128
  @Option(help: "Head dimension of V and O; default: --dim.") var valueDim: Int?
  @OptionGroup var maskOptions: MaskOptions
  @OptionGroup var modifierOptions: ModifierOptions
  @OptionGroup(title: "Model workload profile") var profileOptions: ProfileOptions
  @Option(help: "Storage of the generated K and V: f32, f16 or bf16.") var dtype: DTypeArgument =
    .f32
  @Option(help: "Storage of Q and O: f32, f16 or bf16.") var qoDtype: DTypeArgument = .f32
  @Option(
    help: """
      softmax (dense), block-sparse (local band + global blocks) or linear (softmax-free, \
      elu+1 feature map; float32, bshd, no mask options).
      """)
  var variant: VariantArgument = .softmax
  @Option(
    help: """
      Block-sparse: tokens per block (default 64); or, with --paged, tokens per cache block \
      (default 16).
      """)
  var blockSize: Int?
  @Option(help: "Block-sparse: blocks kept on each side of the diagonal.") var bandBlocks = 1
  @Option(help: "Block-sparse: leading global blocks (see and are seen by all).")
  var globalBlocks = 1
  @Option(help: "Softmax scale; default 1/√dim.") var scale: Float?
  @Option(
    help: """
      auto (decode when --variant softmax and --seq ≤ 16 < --kv-seq, else prefill), prefill \
      (Attention.forward) or decode (Decode.forward against a filled KV cache).
      """)
  var kernel: KernelArgument = .auto
  @Flag(help: "Decode: cache the keys and values in a paged cache instead of a contiguous one.")
  var paged = false
  @Option(
    help: """
      Decode (also --profile --phase decode): keys per split, fixed by the call, never by the \
      thread count (default \(DecodeOptions.defaultSplitSize)).
      """)
  var split: Int?
  @Flag(
    inversion: .prefixedNo,
    help: "Decode: measure the triad bandwidth in the same run (default: on).")
  var triad: Bool?
  @Option(
    help: """
      Memory order of Q, K, V, O: bhsd (default, as PyTorch SDPA takes them) or bshd (a head's \
      rows 4 KiB apart at 8×128 fp32: slower, see README).
      """)
  var layout: LayoutOrder = .bhsd
  @Option(help: "Worker threads; default: every CPU available.") var threads: Int?
  @Option(
    help: """
      Executor: pinned (threads the runtime owns, pinned per NUMA node) or dispatch (Dispatch \
      queues; each worker binds its thread to the node and restores the mask). Default: pinned.
      """)
  var executor: ExecutorKind?
  @Flag(help: "Also print the schedule simulator's load balance for this shape on 32–256 cores.")
  var simulate = false
  @Option(help: "Timed iterations.") var iterations = 5
  @Option(help: "Untimed iterations first (page faults, caches, thread start).") var warmup = 1
  @Option(help: "Query rows per tile (Br), rounded up to a multiple of 24.") var tileQ: Int?
  @Option(help: "Keys per tile (Bc), rounded up to a multiple of 4.") var tileK: Int?
  @Option(help: "Seed of the random inputs.") var seed: UInt64 = 42
  @Flag(inversion: .prefixedNo, help: "Measure the FMA peak in the same run (about 0.5 s).")
  var peak = true
  @Flag(help: "Print one JSON object instead of text.") var json = false
  @Option(help: "Write a Chrome/Perfetto trace of the timed iterations to FILE.json.")
  var trace: String?

  func validate() throws {
    if iterations < 1 { throw ValidationError("--iterations must be at least 1") }
    if warmup < 0 { throw ValidationError("--warmup must be non-negative") }
    if let tileQ, tileQ < 1 { throw ValidationError("--tile-q must be positive") }
    if let tileK, tileK < 1 { throw ValidationError("--tile-k must be positive") }
    if let blockSize, blockSize < 1 { throw ValidationError("--block-size must be positive") }
    if let split, split < 1 { throw ValidationError("--split must be at least 1") }
    try validateKernel()
    if bandBlocks < 0 || globalBlocks < 0 {
      throw ValidationError("--band-blocks and --global-blocks must be non-negative")
    }
  }

  func run() throws {
    try Console.reportingErrors { try execute() }
  }

  private func execute() throws {
    if let path = profileOptions.profile {
      try refuseDecodeOptionsWithProfile()
      return try executeProfile(profileOptions, path: path)
    }
    let choice = kernelChoice
    switch choice.kernel {
    case .decode: return try executeDecode(choice)
    case .prefill: try refuseDecodeOptions(choice)
    }
    if variant == .linear { return try executeLinear() }
    let shape = AttentionShape(
      batch: batch, queryHeads: heads, kvHeads: kvHeads, queryLength: seq, keyLength: kvSeq,
      headDim: dim, valueDim: valueDim)
    var problem = AttentionProblem(
      shape: shape, mask: maskOptions.mask, scale: scale,
      modifiers: modifierOptions.modifiers(queryHeads: heads), order: layout)
    problem.query.scalarType = qoDtype.scalarType
    problem.output.scalarType = qoDtype.scalarType
    problem.key.scalarType = dtype.scalarType
    problem.value.scalarType = dtype.scalarType
    if variant == .blockSparse {
      problem.blockSparse = .localGlobal(
        blockSize: blockSize ?? 64, queryLength: seq, keyLength: kvSeq ?? seq,
        windowBlocks: bandBlocks, globalBlocks: globalBlocks)
    }
    let options = prefillOptions
    let counts = try prefillCounts(problem, options: options)
    let buffers = BenchBuffers(problem: problem, counts: counts, seed: seed)
    defer { buffers.deallocate() }
    for _ in 0..<warmup { try buffers.forward(problem, options: options) }
    // The peak is measured right before the kernel, on the same threads, so the fraction
    // compares two numbers taken under the same machine conditions.
    let peakGFLOPS = peak ? PeakProbe.fmaGFLOPS(threads: options.threads, seconds: 0.05) : nil
    var samples: [Double] = []
    let traceOutput = TraceOutput(path: trace)
    for i in 0..<iterations {
      let once = { try Stopwatch.seconds { try buffers.forward(problem, options: options) } }
      samples.append(
        try traceOutput?.record(on: options.runtime ?? .shared, "iteration \(i)", once) ?? once())
    }
    try traceOutput?.write()
    let report = BenchReport(
      problem: problem, options: options, layout: layout, timing: TimingSummary(samples: samples),
      warmup: warmup, seed: seed, peakGFLOPS: peakGFLOPS)
    print(json ? try report.json() : report.text)
    if simulate && !json {
      print(SimulationTable.text(problem, queryTile: options.tileConfig.queryTile))
    }
  }
}

/// Q, K, V, O allocated once, outside the timed loop, in the problem's storage types. O(n·d)
/// memory: no buffer grows with Sq·Skv (the kernel's own scratch is a few tiles per thread).
struct BenchBuffers {
  let q: UnsafeMutableRawBufferPointer
  let k: UnsafeMutableRawBufferPointer
  let v: UnsafeMutableRawBufferPointer
  let o: UnsafeMutableRawBufferPointer

  init(problem: AttentionProblem, counts: AttentionProblem.RequiredCounts, seed: UInt64) {
    var random = SeededRandom(seed: seed)
    func make(_ count: Int, _ type: ScalarType, fill: Bool) -> UnsafeMutableRawBufferPointer {
      let bytes = UnsafeMutableRawBufferPointer.allocate(
        byteCount: count * type.byteCount, alignment: 64)
      bytes.initializeMemory(as: UInt8.self, repeating: 0)
      guard fill else { return bytes }
      // Generated in chunks and narrowed, so no Float copy of the whole tensor is held.
      let chunk = UnsafeMutableBufferPointer<Float>.allocate(capacity: 1 << 16)
      defer { chunk.deallocate() }
      var done = 0
      while done < count {
        let n = min(chunk.count, count - done)
        let part = UnsafeMutableBufferPointer(rebasing: chunk[0..<n])
        random.fill(part)
        for i in 0..<n {
          switch type {
          case .float32: bytes.storeBytes(of: part[i], toByteOffset: (done + i) * 4, as: Float.self)
          case .float16:
            bytes.storeBytes(of: Float16(part[i]), toByteOffset: (done + i) * 2, as: Float16.self)
          case .bfloat16:
            bytes.storeBytes(
              of: BFloat16(part[i]).bitPattern, toByteOffset: (done + i) * 2, as: UInt16.self)
          }
        }
        done += n
      }
      return bytes
    }
    q = make(counts.query, problem.query.scalarType, fill: true)
    k = make(counts.key, problem.key.scalarType, fill: true)
    v = make(counts.value, problem.value.scalarType, fill: true)
    o = make(counts.output, problem.output.scalarType, fill: false)
  }

  func forward(_ problem: AttentionProblem, options: AttentionOptions) throws(AttentionError) {
    try Attention.forward(
      problem, q: UnsafeRawBufferPointer(q), k: UnsafeRawBufferPointer(k),
      v: UnsafeRawBufferPointer(v), output: o, options: options)
  }

  func deallocate() {
    q.deallocate()
    k.deallocate()
    v.deallocate()
    o.deallocate()
  }
}

extension BenchCommand {
  /// Threads, tile sizes and executor of a prefill run.
  var prefillOptions: AttentionOptions {
    let defaults = TileConfig.default
    return AttentionOptions(
      threads: threads,
      tileConfig: TileConfig(
        queryTile: tileQ ?? defaults.queryTile, keyTile: tileK ?? defaults.keyTile),
      executor: executor)
  }

  /// The element counts of `problem`'s tensors, validated before anything is allocated (the
  /// counts come from validated sizes, never from raw input), and refused when Q, K, V and O
  /// would not fit in memory.
  func prefillCounts(_ problem: AttentionProblem, options: AttentionOptions) throws
    -> AttentionProblem.RequiredCounts
  {
    let counts = try Attention.validate(
      problem, qBytes: .max, kBytes: .max, vBytes: .max, outputBytes: .max, lse: nil,
      options: options)
    let bytes =
      Double(problem.query.scalarType.byteCount) * Double(counts.query)
      + Double(problem.output.scalarType.byteCount) * Double(counts.output)
      + Double(problem.key.scalarType.byteCount) * Double(counts.key)
      + Double(problem.value.scalarType.byteCount) * Double(counts.value)
    try Console.requireMemory(bytes, for: "Q, K, V and O")
    return counts
  }
}
