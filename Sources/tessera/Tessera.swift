import ArgumentParser

/// `tessera`: benchmark, run and verify exact flash attention from the command line.
@main
struct Tessera: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "tessera",
    abstract: "Exact flash-style attention on multicore Linux CPUs.",
    discussion: """
      Build with the CPU's instruction set for full speed:
        swift build -c release -Xcc -march=native
      Errors in inputs (files, shapes, sizes) print `error: ...` on stderr and exit with \
      status 1; malformed command lines exit with status 64 (EX_USAGE) after the usage text.
      """,
    subcommands: [
      BenchCommand.self, DecodeCommand.self, RunCommand.self, VerifyCommand.self, InfoCommand.self,
      GemmCommand.self, LayerCommand.self, LinearCommand.self, ScaleCommand.self,
    ]
  )
}
