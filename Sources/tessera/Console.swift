import ArgumentParser
import Foundation

/// Output helpers shared by the subcommands.
enum Console {
  /// Writes `error: <message>` to stderr.
  static func error(_ message: String) {
    FileHandle.standardError.write(Data("error: \(message)\n".utf8))
  }

  /// Writes `warning: <message>` to stderr, keeping stdout clean for `--json`.
  static func warning(_ message: String) {
    FileHandle.standardError.write(Data("warning: \(message)\n".utf8))
  }

  /// Runs a command body so that every failure is a message and exit status 1, never a trap or
  /// ArgumentParser's usage text: library errors (`AttentionError`, `NPYError`) describe
  /// themselves; `ExitCode` passes through untouched.
  static func reportingErrors(_ body: () throws -> Void) throws {
    do {
      try body()
    } catch let code as ExitCode {
      throw code
    } catch {
      Console.error("\(error)")
      throw ExitCode.failure
    }
  }

  /// Fixed-point formatting without Foundation's locale-dependent `String(format:)` surprises.
  static func fixed(_ x: Double, _ digits: Int = 2) -> String {
    guard x.isFinite else { return "\(x)" }
    return String(format: "%.\(digits)f", x)
  }

  /// Refuses a run whose buffers (`bytes` of `what`) exceed `fraction` of the machine's
  /// memory, so it fails with a message rather than in malloc or the OOM killer.
  static func requireMemory(_ bytes: Double, for what: String, fraction: Double = 0.8) throws {
    let memory = Double(ProcessInfo.processInfo.physicalMemory)
    if bytes > fraction * memory {
      throw CLIError(
        "\(what) need \(fixed(bytes / 1e9)) GB; this machine has \(fixed(memory / 1e9)) GB of"
          + " memory")
    }
  }

  /// Scientific formatting for error magnitudes.
  static func sci(_ x: Double) -> String {
    guard x.isFinite else { return "\(x)" }
    return String(format: "%.2e", x)
  }
}

/// A failure of the CLI's own checks (file shapes, option combinations) with its message.
struct CLIError: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}
