// swift-tools-version: 6.1
// Tessera: exact flash-style attention on multicore Linux CPUs.
//
// No target of the library product carries unsafe compiler flags (SwiftPM refuses such a
// package as a versioned dependency). The instruction set is chosen on the command line instead:
//   swift build -c release -Xcc -march=native
// Benchmarks live in their own package (Benchmarks/) so users never pull their dependencies.
import PackageDescription

let package = Package(
  name: "Tessera",
  platforms: [.macOS(.v13)],
  products: [
    .library(name: "Tessera", targets: ["Tessera"]),
    .executable(name: "tessera", targets: ["tessera"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0")
  ],
  targets: [
    // libnuma: topology and placement. Linux only; other platforms see a single node.
    .systemLibrary(
      name: "CNUMA",
      path: "Sources/CNUMA",
      providers: [.apt(["libnuma-dev"])]
    ),
    // Tiny C helpers: compile-time ISA probe, affinity declarations, prefetch, and the 16-bit →
    // Float widening of 8 lanes (one instruction each; the kernels themselves are Swift).
    .target(name: "CTesseraShims", path: "Sources/CTesseraShims"),
    .target(
      name: "Tessera",
      dependencies: [
        .target(name: "CNUMA", condition: .when(platforms: [.linux])),
        "CTesseraShims",
      ],
      path: "Sources/Tessera"
    ),
    .executableTarget(
      name: "tessera",
      dependencies: [
        "Tessera",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      path: "Sources/tessera"
    ),
    .testTarget(name: "TesseraTests", dependencies: ["Tessera"], path: "Tests/TesseraTests"),
  ]
)
