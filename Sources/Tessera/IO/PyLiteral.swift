/// The subset of Python literal syntax a `.npy` header uses: dicts with string keys, strings,
/// `True`/`False`, ints (with Python 2's `L` suffix, which old NumPy wrote), tuples and lists
/// (structured dtypes). Parsing it rather than pattern-matching the text means that key order,
/// spacing, quote style and trailing commas never matter, exactly as for `ast.literal_eval`.
indirect enum PyLiteral: Sendable {
  case string(String)
  case bool(Bool)
  case int(Int)
  case tuple([PyLiteral])
  case list([PyLiteral])
  case dict([(key: String, value: PyLiteral)])

  /// Parses one literal that fills `text` (surrounding whitespace allowed).
  static func parse(_ text: String) throws(NPYError) -> PyLiteral {
    var parser = Parser(chars: Array(text.unicodeScalars))
    let value = try parser.value()
    parser.skipSpace()
    if parser.position != parser.chars.count {
      throw parser.failure("unexpected text after the literal")
    }
    return value
  }

  private struct Parser {
    let chars: [Unicode.Scalar]
    var position = 0

    func failure(_ what: String) -> NPYError {
      .headerParse("\(what) at offset \(position)")
    }

    mutating func skipSpace() {
      while position < chars.count, chars[position].properties.isWhitespace { position += 1 }
    }

    mutating func value() throws(NPYError) -> PyLiteral {
      skipSpace()
      guard position < chars.count else { throw failure("unexpected end of header") }
      switch chars[position] {
      case "{": return try dict()
      case "(": return .tuple(try sequence(close: ")"))
      case "[": return .list(try sequence(close: "]"))
      case "'", "\"": return .string(try string())
      case "-", "0"..."9": return .int(try int())
      default:
        if consume(word: "True") { return .bool(true) }
        if consume(word: "False") { return .bool(false) }
        throw failure("unexpected character '\(chars[position])'")
      }
    }

    mutating func consume(word: String) -> Bool {
      let w = Array(word.unicodeScalars)
      guard position + w.count <= chars.count, Array(chars[position..<position + w.count]) == w
      else { return false }
      position += w.count
      return true
    }

    /// `(a, b, )`, `(a,)`, `()`, and the same with brackets.
    mutating func sequence(close: Unicode.Scalar) throws(NPYError) -> [PyLiteral] {
      position += 1
      var items: [PyLiteral] = []
      while true {
        skipSpace()
        guard position < chars.count else {
          throw failure("unclosed '\(close == ")" ? "(" : "[")'")
        }
        if chars[position] == close {
          position += 1
          return items
        }
        items.append(try value())
        skipSpace()
        guard position < chars.count else { continue }
        if chars[position] == "," {
          position += 1
        } else if chars[position] != close {
          throw failure("expected ',' or '\(close)'")
        }
      }
    }

    mutating func dict() throws(NPYError) -> PyLiteral {
      position += 1
      var entries: [(key: String, value: PyLiteral)] = []
      while true {
        skipSpace()
        guard position < chars.count else { throw failure("unclosed '{'") }
        if chars[position] == "}" {
          position += 1
          return .dict(entries)
        }
        guard case .string(let key) = try value() else {
          throw failure("dict keys must be strings")
        }
        skipSpace()
        guard position < chars.count, chars[position] == ":" else { throw failure("expected ':'") }
        position += 1
        entries.append((key, try value()))
        skipSpace()
        guard position < chars.count else { continue }
        if chars[position] == "," {
          position += 1
        } else if chars[position] != "}" {
          throw failure("expected ',' or '}'")
        }
      }
    }

    /// A quoted string; NumPy headers never need escapes beyond `\\` and `\'`.
    mutating func string() throws(NPYError) -> String {
      let quote = chars[position]
      position += 1
      var out = String.UnicodeScalarView()
      while position < chars.count {
        let c = chars[position]
        position += 1
        if c == quote { return String(out) }
        if c == "\\" {
          guard position < chars.count else { break }
          out.append(chars[position])
          position += 1
        } else {
          out.append(c)
        }
      }
      throw failure("unterminated string")
    }

    mutating func int() throws(NPYError) -> Int {
      let start = position
      if chars[position] == "-" { position += 1 }
      var value = 0
      var digits = 0
      while position < chars.count, (48...57).contains(chars[position].value) {
        let d = Int(chars[position].value - 48)
        let (m, o1) = value.multipliedReportingOverflow(by: 10)
        let (s, o2) = m.addingReportingOverflow(d)
        if o1 || o2 { throw failure("integer too large") }
        value = s
        digits += 1
        position += 1
      }
      if digits == 0 { throw failure("expected digits") }
      if position < chars.count, chars[position] == "L" { position += 1 }  // Python 2 long
      return chars[start] == "-" ? -value : value
    }
  }
}
