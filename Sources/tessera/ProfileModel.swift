import Foundation
import Tessera

/// The attention shape of a real model, read from a JSON workload profile (`Profiles/models/`).
///
/// The file is one JSON object; every field is required (a missing optional is written `null`),
/// so a profile says explicitly that a model has no window, no softcap, …:
///
/// | field | type | meaning |
/// | --- | --- | --- |
/// | `name` | string | the model, as its publisher names it |
/// | `layers` | int ≥ 1 | attention layers |
/// | `queryHeads`, `kvHeads` | int ≥ 1 | query and key/value heads; kvHeads divides queryHeads |
/// | `headDim`, `valueDim` | int ≥ 1 | head dimension of Q/K and of V/O |
/// | `window` | null or int ≥ 1 | sliding window W: keys visible to a query, itself included |
/// | `windowLayers` | null or 0…layers | layers that use the window (null: all of them) |
/// | `softcap` | null or number > 0 | attention logit soft-cap: s ↦ cap·tanh(s/cap) |
/// | `scale` | null or number > 0 | multiplies Q·Kᵀ; null is 1/√headDim |
/// | `alibi` | bool | ALiBi with the standard per-head slopes |
/// | `sinks` | null, number or [number] × queryHeads | attention-sink logits |
/// | `maxContext` | int ≥ 1 | the longest context the model is published for |
/// | `source` | string | where the numbers come from, and every assumption made |
///
/// Unknown fields are refused too, so a typo (`"kvheads"`) is an error instead of a silent
/// default.
struct ModelProfile: Equatable {
  var name: String
  var layers: Int
  var queryHeads: Int
  var kvHeads: Int
  var headDim: Int
  var valueDim: Int
  var window: Int?
  var windowLayers: Int?
  var softcap: Float?
  var scale: Float?
  var alibi: Bool
  var sinks: [Float]?
  var maxContext: Int
  var source: String

  static let fields = [
    "name", "layers", "queryHeads", "kvHeads", "headDim", "valueDim", "window", "windowLayers",
    "softcap", "scale", "alibi", "sinks", "maxContext", "source",
  ]

  /// Layers with the sliding window (0 without one).
  var windowedLayerCount: Int { window == nil ? 0 : (windowLayers ?? layers) }
  /// Layers with full causal attention.
  var globalLayerCount: Int { layers - windowedLayerCount }

  /// The layer kinds of the model with their counts: one kind for most models, two (sliding and
  /// global) for models that alternate them, as Gemma 2.
  var layerKinds: [(kind: ProfileLayerKind, count: Int)] {
    var kinds: [(ProfileLayerKind, Int)] = []
    if globalLayerCount > 0 { kinds.append((.global, globalLayerCount)) }
    if let window, windowedLayerCount > 0 { kinds.append((.window(window), windowedLayerCount)) }
    return kinds
  }

  /// The causal mask of one layer kind: a window of W keys is W − 1 keys left of the diagonal.
  func mask(_ kind: ProfileLayerKind) -> AttentionMask {
    switch kind {
    case .global: .causal
    case .window(let w): .slidingWindow(left: w - 1)
    }
  }

  func modifiers() -> ScoreModifiers {
    ScoreModifiers(
      softcap: softcap,
      alibiSlopes: alibi ? ScoreModifiers.standardAlibiSlopes(heads: queryHeads) : nil,
      sinks: normalizedSinks)
  }
}

/// A layer of a profile: full causal attention, or causal within a sliding window of W keys.
enum ProfileLayerKind: Equatable, CustomStringConvertible {
  case global
  case window(Int)

  var description: String {
    switch self {
    case .global: "global"
    case .window(let w): "window \(w)"
    }
  }
}

/// A profile file that cannot be used, naming the field at fault.
struct ProfileError: Error, Equatable, CustomStringConvertible {
  var file: String
  /// The field at fault; nil when the file as a whole is wrong (unreadable, not JSON).
  var field: String?
  var message: String

  var description: String {
    if let field { return "profile \(file): field \"\(field)\": \(message)" }
    return "profile \(file): \(message)"
  }
}

extension ModelProfile {
  /// Reads and validates a profile file.
  static func load(path: String) throws(ProfileError) -> ModelProfile {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw ProfileError(file: path, field: nil, message: "cannot read the file")
    }
    return try parse(data, file: path)
  }

  /// Parses and validates the JSON of a profile; `file` names it in errors.
  static func parse(_ data: Data, file: String) throws(ProfileError) -> ModelProfile {
    let object: ProfileJSON
    do {
      object = try JSONDecoder().decode(ProfileJSON.self, from: data)
    } catch {
      throw ProfileError(file: file, field: nil, message: "not valid JSON (\(error))")
    }
    guard case .object(let dict) = object else {
      throw ProfileError(
        file: file, field: nil, message: "expected one JSON object, got \(object.summary)")
    }
    let reader = FieldReader(dict: dict, file: file)
    for key in dict.keys.sorted() where !fields.contains(key) {
      throw ProfileError(
        file: file, field: key,
        message: "unknown field (expected: \(fields.joined(separator: ", ")))")
    }
    let profile = ModelProfile(
      name: try reader.string("name"),
      layers: try reader.int("layers", min: 1),
      queryHeads: try reader.int("queryHeads", min: 1),
      kvHeads: try reader.int("kvHeads", min: 1),
      headDim: try reader.int("headDim", min: 1),
      valueDim: try reader.int("valueDim", min: 1),
      window: try reader.optionalInt("window", min: 1),
      windowLayers: try reader.optionalInt("windowLayers", min: 0),
      softcap: try reader.optionalPositive("softcap"),
      scale: try reader.optionalPositive("scale"),
      alibi: try reader.bool("alibi"),
      sinks: try reader.sinks("sinks"),
      maxContext: try reader.int("maxContext", min: 1),
      source: try reader.string("source"))
    try profile.check(file: file)
    return profile
  }

  /// Cross-field rules.
  private func check(file: String) throws(ProfileError) {
    if queryHeads % kvHeads != 0 {
      throw ProfileError(
        file: file, field: "kvHeads",
        message: "must divide queryHeads (\(queryHeads)), got \(kvHeads)")
    }
    if let windowLayers {
      if window == nil {
        throw ProfileError(
          file: file, field: "windowLayers", message: "set, but \"window\" is null")
      }
      if windowLayers > layers {
        throw ProfileError(
          file: file, field: "windowLayers",
          message: "must be at most layers (\(layers)), got \(windowLayers)")
      }
    }
    if let sinks, sinks.count != 1, sinks.count != queryHeads {
      throw ProfileError(
        file: file, field: "sinks",
        message: "expected one logit or queryHeads (\(queryHeads)), got \(sinks.count)")
    }
  }
}

extension ModelProfile {
  /// One logit per query head (a single value is shared by all heads).
  var normalizedSinks: [Float]? {
    guard let sinks else { return nil }
    return sinks.count == 1 ? [Float](repeating: sinks[0], count: queryHeads) : sinks
  }
}

/// A JSON value, decoded strictly: `true` is never a number and `1` never a boolean.
enum ProfileJSON: Decodable, Equatable {
  case null
  case bool(Bool)
  case number(Double)
  case string(String)
  case array([ProfileJSON])
  case object([String: ProfileJSON])

  init(from decoder: Decoder) throws {
    let c = try decoder.singleValueContainer()
    if c.decodeNil() {
      self = .null
    } else if let b = try? c.decode(Bool.self) {
      self = .bool(b)
    } else if let d = try? c.decode(Double.self) {
      self = .number(d)
    } else if let s = try? c.decode(String.self) {
      self = .string(s)
    } else if let a = try? c.decode([ProfileJSON].self) {
      self = .array(a)
    } else {
      self = .object(try c.decode([String: ProfileJSON].self))
    }
  }

  var summary: String {
    switch self {
    case .null: "null"
    case .bool(let b): "\(b)"
    case .number(let d): d == d.rounded() && abs(d) < 1e15 ? "\(Int(d))" : "\(d)"
    case .string(let s): "the string \"\(s)\""
    case .array: "an array"
    case .object: "an object"
    }
  }
}

/// Typed access to the fields of a JSON object, each failure naming the field.
private struct FieldReader {
  var dict: [String: ProfileJSON]
  var file: String

  private func fail(_ field: String, _ message: String) -> ProfileError {
    ProfileError(file: file, field: field, message: message)
  }

  private func value(_ field: String) throws(ProfileError) -> ProfileJSON {
    guard let v = dict[field] else {
      let optional = ["window", "windowLayers", "softcap", "scale", "sinks"].contains(field)
      throw fail(field, optional ? "missing (write null for none)" : "missing")
    }
    return v
  }

  func string(_ field: String) throws(ProfileError) -> String {
    let v = try value(field)
    guard case .string(let s) = v else {
      throw fail(field, "expected a string, got \(v.summary)")
    }
    if s.trimmingCharacters(in: .whitespaces).isEmpty { throw fail(field, "must not be empty") }
    return s
  }

  func bool(_ field: String) throws(ProfileError) -> Bool {
    let v = try value(field)
    guard case .bool(let b) = v else {
      throw fail(field, "expected true or false, got \(v.summary)")
    }
    return b
  }

  func int(_ field: String, min: Int) throws(ProfileError) -> Int {
    let v = try value(field)
    guard case .number(let d) = v, d.isFinite, d == d.rounded(), abs(d) < 1e15 else {
      throw fail(field, "expected an integer ≥ \(min), got \(v.summary)")
    }
    if Int(d) < min { throw fail(field, "must be at least \(min), got \(Int(d))") }
    return Int(d)
  }

  func optionalInt(_ field: String, min: Int) throws(ProfileError) -> Int? {
    if try value(field) == .null { return nil }
    return try int(field, min: min)
  }

  func optionalPositive(_ field: String) throws(ProfileError) -> Float? {
    let v = try value(field)
    if v == .null { return nil }
    guard case .number(let d) = v else {
      throw fail(field, "expected null or a positive number, got \(v.summary)")
    }
    let x = Float(d)
    guard x.isFinite, x > 0 else { throw fail(field, "must be positive and finite, got \(d)") }
    return x
  }

  func sinks(_ field: String) throws(ProfileError) -> [Float]? {
    let v = try value(field)
    if v == .null { return nil }
    let items: [ProfileJSON]
    if case .array(let a) = v { items = a } else { items = [v] }
    var out: [Float] = []
    for item in items {
      guard case .number(let d) = item, Float(d).isFinite else {
        throw fail(field, "expected null, a number or an array of numbers, got \(item.summary)")
      }
      out.append(Float(d))
    }
    if out.isEmpty { throw fail(field, "an empty array; write null for no sinks") }
    return out
  }
}
