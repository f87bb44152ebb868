#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// Loading a layer's weights from `.safetensors` or `.npy` files.
///
/// Tensor names follow PyTorch/Hugging Face: `<prefix>q_proj.weight`, `k_proj`, `v_proj`,
/// `out_proj` (each `.weight`, and `.bias` when present), shapes (out, in). Other names
/// (`o_proj` in Llama checkpoints) are a `WeightNames` away.
extension MultiHeadAttentionWeights {
  /// The tensor names of the four projections.
  public struct WeightNames: Hashable, Sendable {
    public var prefix: String
    public var query: String
    public var key: String
    public var value: String
    public var output: String

    public init(
      prefix: String = "", query: String = "q_proj", key: String = "k_proj",
      value: String = "v_proj", output: String = "out_proj"
    ) {
      self.prefix = prefix
      self.query = query
      self.key = key
      self.value = value
      self.output = output
    }

    public static let pytorch = WeightNames()
  }

  /// Assembles weights from named tensors (shape, values), checking each shape against the
  /// configuration. Biases are optional: present in the tensors means used.
  public init(
    tensors: [String: (shape: [Int], values: [Float])],
    configuration c: MultiHeadAttentionConfiguration, names: WeightNames = .pytorch
  ) throws(LayerError) {
    try c.validate()
    let shapes = c.weightShapes
    let bases = [names.query, names.key, names.value, names.output].map { names.prefix + $0 }
    var weights: [[Float]] = []
    var biases: [[Float]?] = []
    for (base, shape) in zip(bases, shapes) {
      let name = base + ".weight"
      guard let t = tensors[name] else { throw .missingWeight(name: name) }
      if t.shape != shape { throw .weightShape(name: name, expected: shape, actual: t.shape) }
      weights.append(t.values)
      if let b = tensors[base + ".bias"] {
        if b.shape != [shape[0]] {
          throw .weightShape(name: base + ".bias", expected: [shape[0]], actual: b.shape)
        }
        biases.append(b.values)
      } else {
        biases.append(nil)
      }
    }
    self.init(
      query: weights[0], key: weights[1], value: weights[2], output: weights[3],
      queryBias: biases[0], keyBias: biases[1], valueBias: biases[2], outputBias: biases[3])
  }

  /// Reads the weights from a `.safetensors` file (F32, F16 or BF16; converted to Float).
  public init(
    safetensors path: String, configuration: MultiHeadAttentionConfiguration,
    names: WeightNames = .pytorch
  ) throws(LayerError) {
    let file: SafetensorsFile
    do {
      file = try SafetensorsFile(contentsOf: path)
    } catch {
      throw .safetensors(error)
    }
    var tensors: [String: (shape: [Int], values: [Float])] = [:]
    for (name, t) in file.tensors { tensors[name] = (t.shape, t.floatValues()) }
    try self.init(tensors: tensors, configuration: configuration, names: names)
  }

  /// Reads the weights from `.npy` files in `directory`, one per tensor, named
  /// `<tensor name>.npy` (e.g. `q_proj.weight.npy`); float32 or float16.
  public init(
    npyDirectory directory: String, configuration c: MultiHeadAttentionConfiguration,
    names: WeightNames = .pytorch
  ) throws(LayerError) {
    var tensors: [String: (shape: [Int], values: [Float])] = [:]
    let bases = [names.query, names.key, names.value, names.output].map { names.prefix + $0 }
    for base in bases {
      for suffix in [".weight", ".bias"] {
        let name = base + suffix
        let path = directory + "/" + name + ".npy"
        do {
          let array = try NPYArray(contentsOf: path)
          tensors[name] = (array.shape, array.floatValues())
        } catch {
          // A missing bias file means no bias; a missing weight is reported by the
          // assembly below; any other failure (malformed file) is an error.
          if case .io = error, suffix == ".bias" || !fileExists(path) { continue }
          throw .npy(name: path, error)
        }
      }
    }
    try self.init(tensors: tensors, configuration: c, names: names)
  }
}

private func fileExists(_ path: String) -> Bool { access(path, F_OK) == 0 }

extension MultiHeadAttention {
  /// A layer whose weights come from a `.safetensors` file.
  public convenience init(
    configuration: MultiHeadAttentionConfiguration, safetensors path: String,
    names: MultiHeadAttentionWeights.WeightNames = .pytorch,
    options: AttentionOptions = AttentionOptions()
  ) throws(LayerError) {
    let weights = try MultiHeadAttentionWeights(
      safetensors: path, configuration: configuration, names: names)
    try self.init(configuration: configuration, weights: weights, options: options)
  }
}
