import ArgumentParser
import Tessera

/// `--executor pinned|dispatch`.
extension ExecutorKind: ExpressibleByArgument {}
