// swift-tools-version: 6.1
// Tessera's benchmark suites, kept in their own package so that users of the library never pull
// the benchmark dependencies. Run from this directory:
//
//   swift package -Xcc -march=native --scratch-path .build-bench benchmark list
//   swift package -Xcc -march=native --scratch-path .build-bench benchmark --filter ".*D=128_S=4096_.*"
//
// `-Xcc -march=native` reaches Tessera's C shim (the compile-time ISA probe) and clang's target
// for the Swift code, exactly as for `swift build` in the root package; without it the kernels
// are compiled for baseline x86-64 (correct, but no FMA).
//
// The `MallocInterposer` trait is named explicitly: it is the one malloc backend the benchmark
// package needs for its malloc metrics on Swift 6.3, and naming the traits leaves out the
// `RuntimeInterposer` default trait (an ARC hook for Swift 6.3 on Linux), whose package this
// build environment does not carry.
import PackageDescription

let package = Package(
  name: "TesseraBenchmarks",
  platforms: [.macOS(.v13)],
  dependencies: [
    .package(name: "Tessera", path: ".."),
    .package(
      url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
  ],
  targets: []
)

// One executable target per suite, under Benchmarks/<Name>/<Name>.swift. Prefill and decode are
// kept apart (DESIGN.md, "Measuring"): their timings differ by orders of magnitude and they are
// bound by different resources (FMA throughput against memory bandwidth).
for suite in ["PrefillBenchmarks", "DecodeBenchmarks"] {
  package.targets.append(
    .executableTarget(
      name: suite,
      dependencies: [
        .product(name: "Benchmark", package: "benchmark"),
        .product(name: "Tessera", package: "Tessera"),
      ],
      path: "Benchmarks/\(suite)",
      plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
    )
  )
}
