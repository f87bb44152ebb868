#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

// File access through POSIX calls rather than Foundation's `Data(contentsOf:)`, whose errors on
// Linux say "The operation could not be completed" without the reason; `strerror(errno)` says
// "No such file or directory", "Permission denied", "Is a directory".
extension NPYArray {
  /// Reads a `.npy` file. Format errors do not repeat the path; callers that read several
  /// files say which one failed.
  public init(contentsOf path: String) throws(NPYError) {
    try self.init(bytes: try Self.readFile(path))
  }

  /// Writes the array as a `.npy` file, replacing any file at `path`.
  public func write(to path: String) throws(NPYError) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw .io(path: path, reason: "cannot create: \(Self.lastError)") }
    defer { close(fd) }
    let bytes = encoded
    var written = 0
    while written < bytes.count {
      let n = bytes.withUnsafeBytes { raw in
        posixWrite(fd, raw.baseAddress! + written, raw.count - written)
      }
      if n < 0 {
        if errno == EINTR { continue }
        throw .io(path: path, reason: "cannot write: \(Self.lastError)")
      }
      written += n
    }
  }

  static func readFile(_ path: String) throws(NPYError) -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw .io(path: path, reason: "cannot open: \(Self.lastError)") }
    defer { close(fd) }
    var info = stat()
    let expected = fstat(fd, &info) == 0 ? max(Int(info.st_size), 0) : 0
    // Read to end of file rather than trusting st_size (pipes, /proc, files being written).
    var bytes = [UInt8](repeating: 0, count: expected + 1)
    var count = 0
    while true {
      if count == bytes.count { bytes += [UInt8](repeating: 0, count: max(bytes.count, 4096)) }
      let n = bytes.withUnsafeMutableBytes { raw in
        read(fd, raw.baseAddress! + count, raw.count - count)
      }
      if n == 0 { break }
      if n < 0 {
        if errno == EINTR { continue }
        throw .io(path: path, reason: "cannot read: \(Self.lastError)")
      }
      count += n
    }
    bytes.removeSubrange(count...)
    return bytes
  }

  private static var lastError: String { String(cString: strerror(errno)) }
}

/// `write(2)`, named apart from `NPYArray.write(to:)`, which hides it inside the extension.
private func posixWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
  write(fd, buffer, count)
}
