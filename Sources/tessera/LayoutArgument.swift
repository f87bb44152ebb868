import ArgumentParser
import Tessera

extension LayoutOrder: ExpressibleByArgument {}
