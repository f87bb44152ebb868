import CTesseraShims
import Foundation

/// x86 vector features that change which code the kernels compile to.
public struct CPUFeatures: OptionSet, Hashable, Sendable, CustomStringConvertible {
  public let rawValue: Int
  public init(rawValue: Int) { self.rawValue = rawValue }

  // Bit values match `tessera_cpu_features()`.
  public static let avx2 = CPUFeatures(rawValue: 1 << 0)
  public static let fma = CPUFeatures(rawValue: 1 << 1)
  public static let f16c = CPUFeatures(rawValue: 1 << 2)
  public static let avx512f = CPUFeatures(rawValue: 1 << 3)

  /// Every feature with its conventional lower-case name, in a stable order.
  public static let named: [(CPUFeatures, String)] = [
    (.avx2, "avx2"), (.fma, "fma"), (.f16c, "f16c"), (.avx512f, "avx512f"),
  ]

  /// The names of the features present, e.g. `["avx2", "fma"]`.
  public var names: [String] { Self.named.filter { contains($0.0) }.map(\.1) }

  public var description: String { names.isEmpty ? "none" : names.joined(separator: " ") }
}

/// What this build of Tessera was compiled for, against what the CPU it runs on offers.
///
/// The instruction set is fixed at compile time (the kernels are Swift SIMD code, and a library
/// target may not carry `unsafeFlags`), so a build without `-Xcc -march=native` runs generic
/// SSE2 code on an AVX2 machine at a fraction of the speed. `warning` says so.
public enum BuildInfo {
  /// The architecture compiled for.
  public static var architecture: String {
    #if arch(x86_64)
      "x86_64"
    #elseif arch(arm64)
      "arm64"
    #else
      "other"
    #endif
  }

  /// Features the C module saw at compile time (`-Xcc -march=...`); the Swift kernels are built
  /// with the same target flags, so these are what the kernels may use.
  public static let compiled: CPUFeatures = {
    var f: CPUFeatures = []
    if TESSERA_HAS_AVX2 != 0 { f.insert(.avx2) }
    if TESSERA_HAS_FMA != 0 { f.insert(.fma) }
    if TESSERA_HAS_F16C != 0 { f.insert(.f16c) }
    if TESSERA_HAS_AVX512F != 0 { f.insert(.avx512f) }
    return f
  }()

  /// Features the CPU and OS support (cpuid and XCR0: a feature whose registers the OS does
  /// not save counts as absent). Empty on non-x86 CPUs.
  public static var runtime: CPUFeatures { CPUFeatures(rawValue: Int(tessera_cpu_features())) }

  /// The CPU's brand string, e.g. "AMD EPYC 7763 64-Core Processor"; "unknown" when cpuid has
  /// none.
  public static var cpuBrand: String {
    var buffer = [CChar](repeating: 0, count: 64)
    buffer.withUnsafeMutableBufferPointer { tessera_cpu_brand($0.baseAddress, Int32($0.count)) }
    let brand = String(
      decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self
    )
    .trimmingCharacters(in: .whitespaces)
    return brand.isEmpty ? "unknown" : brand
  }

  /// Features the CPU has and this build does not use.
  public static var missing: CPUFeatures { runtime.subtracting(compiled) }

  /// Features compiled in that the CPU lacks: the process would die of SIGILL in a kernel.
  public static var unsupported: CPUFeatures { compiled.subtracting(runtime) }

  /// A warning when the build and the CPU disagree, `nil` when they match.
  public static var warning: String? {
    if !unsupported.isEmpty {
      return "this build uses \(unsupported) but the CPU lacks it; rebuild for this machine"
        + " (swift build -c release -Xcc -march=native)"
    }
    if !missing.isEmpty {
      return "the CPU supports \(missing) but this build does not use it; rebuild with"
        + " `swift build -c release -Xcc -march=native` for full speed"
    }
    return nil
  }
}
