import ArgumentParser
import Foundation
import Tessera

/// `--kernel` of `tessera bench`.
enum KernelArgument: String, CaseIterable, ExpressibleByArgument {
  /// Decode for a decode shape (`BenchCommand.decodeQueryLimit`), prefill otherwise.
  case auto
  case prefill
  case decode
}

/// The kernel a `tessera bench` run times, and why: the reason goes into the report and into
/// every error about an option that belongs to the other kernel.
struct KernelChoice {
  enum Kernel { case prefill, decode }
  var kernel: Kernel
  var reason: String
}

/// Which kernel `tessera bench` times. A decode step (a few new tokens against a long cache)
/// timed through the prefill kernel measures a shape no server runs that way: the decode kernel
/// reads the cache once per kv head with every query row of the group, and reports bandwidth
/// rather than FLOP/s, which is the figure that bounds decode. So a decode shape runs decode,
/// and every option only the other kernel takes is refused rather than silently dropped.
extension BenchCommand {
  /// The largest Sq `--kernel auto` sends to decode: one token, or a speculative-decoding draft
  /// (draft trees and n-gram drafts verify a few to 16 tokens per step). Longer chunks are
  /// chunked prefill, which fills the prefill kernel's query tiles (24 rows and up).
  static let decodeQueryLimit = 16

  var kernelChoice: KernelChoice {
    let keys = kvSeq ?? seq
    switch kernel {
    case .prefill: return KernelChoice(kernel: .prefill, reason: "--kernel prefill")
    case .decode: return KernelChoice(kernel: .decode, reason: "--kernel decode")
    case .auto:
      if variant != .softmax {
        return KernelChoice(kernel: .prefill, reason: "--variant \(variant.rawValue)")
      }
      if seq >= keys {
        return KernelChoice(kernel: .prefill, reason: "auto: Sq=\(seq) ≥ Skv=\(keys)")
      }
      if seq > Self.decodeQueryLimit {
        return KernelChoice(
          kernel: .prefill, reason: "auto: Sq=\(seq) > \(Self.decodeQueryLimit)")
      }
      return KernelChoice(
        kernel: .decode, reason: "auto: Sq=\(seq) ≤ \(Self.decodeQueryLimit) < Skv=\(keys)")
    }
  }

  /// `--kernel` combinations that cannot run at all.
  func validateKernel() throws {
    if kernel != .auto, profileOptions.profile != nil {
      throw ValidationError(
        "--kernel conflicts with --profile: the profile's --phase picks the kernel")
    }
    guard kernel == .decode else { return }
    if variant != .softmax {
      throw ValidationError("--kernel decode takes --variant softmax only")
    }
    let keys = kvSeq ?? seq
    if seq >= keys {
      throw ValidationError(
        "--kernel decode needs --seq (new tokens, here \(seq)) below --kv-seq (cached tokens,"
          + " here \(keys))")
    }
  }

  /// The decode options, refused when the prefill kernel runs.
  func refuseDecodeOptions(_ choice: KernelChoice) throws {
    var given: [String] = []
    if paged { given.append("--paged") }
    if split != nil { given.append("--split") }
    if let triad { given.append(triad ? "--triad" : "--no-triad") }
    guard !given.isEmpty else { return }
    throw CLIError(
      "\(given.joined(separator: ", ")) \(given.count == 1 ? "applies" : "apply") to the decode"
        + " kernel, but this run times the prefill kernel (\(choice.reason)); pass --kernel"
        + " decode (with --seq below --kv-seq) to time decode, or drop"
        + " \(given.count == 1 ? "it" : "them")")
  }

  /// `--profile --phase decode` runs its own contiguous cache without a triad.
  func refuseDecodeOptionsWithProfile() throws {
    var given: [String] = []
    if paged { given.append("--paged") }
    if let triad { given.append(triad ? "--triad" : "--no-triad") }
    guard !given.isEmpty else { return }
    throw CLIError(
      "\(given.joined(separator: ", ")) \(given.count == 1 ? "conflicts" : "conflict") with"
        + " --profile: a profile's decode phase uses a contiguous cache and no triad")
  }

  /// The prefill options, refused when the decode kernel runs.
  private func refusePrefillOptions(_ choice: KernelChoice) throws {
    var given: [String] = []
    if let valueDim, valueDim != dim { given.append("--value-dim") }
    if layout != .bhsd { given.append("--layout \(layout.rawValue)") }
    if tileQ != nil { given.append("--tile-q") }
    if tileK != nil { given.append("--tile-k") }
    if trace != nil { given.append("--trace") }
    if simulate { given.append("--simulate") }
    if !given.isEmpty {
      throw CLIError(
        "\(given.joined(separator: ", ")) \(given.count == 1 ? "applies" : "apply") to the"
          + " prefill kernel, but this run times the decode kernel (\(choice.reason)); pass"
          + " --kernel prefill to time prefill, or drop \(given.count == 1 ? "it" : "them")")
    }
    if blockSize != nil, !paged {
      throw CLIError(
        "--block-size is block-sparse's tokens per block or, with --paged, the paged cache's;"
          + " this decode run (\(choice.reason)) has neither: add --paged or drop --block-size")
    }
  }

  /// Times `Decode.forward` on these options, as `tessera decode` does.
  func executeDecode(_ choice: KernelChoice) throws {
    try refusePrefillOptions(choice)
    var benchmark = DecodeBenchmark(
      batch: batch, heads: heads, kvHeads: kvHeads ?? heads, dim: dim, kvSeq: kvSeq ?? seq,
      seq: seq, cacheType: dtype.scalarType, queryType: qoDtype.scalarType, paged: paged,
      blockSize: blockSize ?? 16,
      threads: threads ?? ProcessInfo.processInfo.activeProcessorCount,
      split: split ?? DecodeOptions.defaultSplitSize, executor: executor,
      mask: maskOptions.mask, modifiers: .none, scale: scale, iterations: iterations,
      warmup: warmup, seed: seed, triad: triad ?? true, json: json,
      kernelNote: kernel == .auto
        ? "\(choice.reason); --kernel prefill times the prefill kernel" : choice.reason)
    // Sizes first: the sinks are an array of --heads entries, so --heads must be valid before
    // the modifiers are built.
    try benchmark.validate()
    benchmark.modifiers = modifierOptions.modifiers(queryHeads: heads)
    try benchmark.run()
  }
}
