import Tessera

/// The text and JSON reports of a decode benchmark. Without a `kernelNote` (`tessera decode`)
/// both are exactly the format `tessera decode` has always printed; with one (`tessera bench`
/// routed to decode) they open with the kernel and also name the mask, scale and Q/O storage,
/// which bench lets the user change.
extension DecodeBenchmark {
  func jsonReport(_ m: Measurement) -> String {
    var fields = ["\"command\": \"decode\""]
    if kernelNote != nil {
      fields += [
        "\"kernel\": \"decode\"", "\"qo_dtype\": \"\(Self.name(queryType))\"",
        "\"mask\": \"\(mask)\"", "\"scale\": \(effectiveScale)",
      ]
    }
    fields += [
      "\"batch\": \(batch)", "\"heads\": \(heads)",
      "\"kv_heads\": \(kvHeads)", "\"dim\": \(dim)", "\"kv_seq\": \(kvSeq)", "\"seq\": \(seq)",
      "\"dtype\": \"\(Self.name(cacheType))\"", "\"paged\": \(paged)",
      "\"block_size\": \(paged ? "\(blockSize)" : "null")", "\"threads\": \(threads)",
      "\"split\": \(split)", "\"iterations\": \(iterations)", "\"bytes_read\": \(m.bytesRead)",
      "\"median_s\": \(m.median)", "\"min_s\": \(m.best)", "\"median_gbps\": \(m.medianGBps)",
      "\"best_gbps\": \(m.bestGBps)", "\"lse_finite\": \(m.lseFinite)",
      "\"cpu_busy\": \(m.cpuBusy)",
    ]
    if let triadGBps = m.triadGBps {
      fields += [
        "\"triad_gbps\": \(triadGBps)",
        "\"median_fraction_of_triad\": \(m.medianGBps / triadGBps)",
        "\"best_fraction_of_triad\": \(m.bestGBps / triadGBps)",
      ]
    }
    if let pairedTriad = m.pairedTriadGBps, let pairedFraction = m.pairedFraction {
      fields += [
        "\"paired_triad_gbps\": \(pairedTriad)",
        "\"paired_median_fraction_of_triad\": \(pairedFraction)",
      ]
    }
    return "{" + fields.joined(separator: ", ") + "}"
  }

  func textReport(_ m: Measurement) -> String {
    var lines: [String] = []
    if let kernelNote { lines.append("decode kernel (\(kernelNote))") }
    // Q/O storage is named only where it can differ from the cache's (bench's --qo-dtype).
    let storage =
      queryType == cacheType
      ? Self.name(cacheType) : "\(Self.name(cacheType)) cache, \(Self.name(queryType)) q/o"
    lines.append(
      "decode B=\(batch) Hq=\(heads) Hkv=\(kvHeads) D=\(dim) Skv=\(kvSeq) Sq=\(seq) \(storage)"
        + (paged ? " paged(block \(blockSize))" : " contiguous")
        + " threads=\(threads) split=\(split)")
    if kernelNote != nil {
      lines.append(
        "  mask \(mask), scale \(effectiveScale)"
          + (modifierNames.isEmpty ? "" : ", " + modifierNames.joined(separator: ", ")))
    }
    lines.append(
      "  cache read per call: \(Console.fixed(Double(m.bytesRead) / 1e6, 1)) MB"
        + " (filled in \(Console.fixed(m.fillSeconds, 1)) s)")
    lines.append(
      "  time: median \(Console.fixed(m.median * 1e3, 3)) ms, min"
        + " \(Console.fixed(m.best * 1e3, 3)) ms over \(iterations) iterations; CPU busy"
        + " \(Console.fixed(100 * m.cpuBusy, 0)) % of \(threads) threads × wall time")
    lines.append(
      "  bandwidth: median \(Console.fixed(m.medianGBps)) GB/s, best"
        + " \(Console.fixed(m.bestGBps)) GB/s")
    if let triadGBps = m.triadGBps {
      lines.append(
        "  triad (same run, \(threads) threads): \(Console.fixed(triadGBps)) GB/s;"
          + " decode/triad: median \(Console.fixed(100 * m.medianGBps / triadGBps, 1)) %,"
          + " best \(Console.fixed(100 * m.bestGBps / triadGBps, 1)) %")
    }
    if let pairedTriad = m.pairedTriadGBps, let pairedFraction = m.pairedFraction {
      lines.append(
        "  paired (a triad pass right before each call): triad median"
          + " \(Console.fixed(pairedTriad)) GB/s; decode/triad median"
          + " \(Console.fixed(100 * pairedFraction, 1)) % of the calls' ratios")
    }
    return lines.joined(separator: "\n")
  }

  /// The scale the kernel applies: `scale`, or 1/√dim.
  var effectiveScale: Float { scale ?? 1 / Float(dim).squareRoot() }

  private var modifierNames: [String] {
    var names: [String] = []
    if let softcap = modifiers.softcap { names.append("softcap \(softcap)") }
    if modifiers.alibiSlopes != nil { names.append("alibi") }
    if let sink = modifiers.sinks?.first { names.append("sink \(sink)") }
    return names
  }

  /// The `--dtype` spelling of a storage type.
  static func name(_ type: ScalarType) -> String {
    switch type {
    case .float32: "f32"
    case .float16: "f16"
    case .bfloat16: "bf16"
    }
  }
}
