import Foundation
import Tessera

func rnd(_ n: Int) -> [Float] { (0..<n).map { _ in Float.random(in: -1...1) } }
for (sq, skv, d, h, hkv, mask) in [(65, 65, 64, 2, 1, AttentionMask.none), (100, 37, 33, 4, 2, .causal), (37, 100, 80, 2, 2, .causal), (37, 100, 80, 2, 2, .causalTopLeft), (1000, 1000, 128, 1, 1, .causal), (7, 1, 16, 1, 1, .causalTopLeft)] {
  let shape = AttentionShape(queryHeads: h, kvHeads: hkv, queryLength: sq, keyLength: skv, headDim: d)
  let p = AttentionProblem(shape: shape, mask: mask)
  let q = rnd(sq * h * d), k = rnd(skv * hkv * d), v = rnd(skv * hkv * d)
  let r = try Attention.forward(p, q: q, k: k, v: v)
  let ref = try q.withUnsafeBufferPointer { q in try k.withUnsafeBufferPointer { k in try v.withUnsafeBufferPointer { v in try ReferenceAttention.compute(p, q: q, k: k, v: v) } } }
  var e = 0.0, el = 0.0
  for i in 0..<r.output.count { e = max(e, abs(Double(r.output[i]) - ref.output[i])) }
  for i in 0..<r.lse.count { if ref.lse[i] == -.infinity { if r.lse[i] != -.infinity { el = .infinity } } else { el = max(el, abs(Double(r.lse[i]) - ref.lse[i])) } }
  print(shape, mask, "maxerr O", e, "LSE", el)
}
let shape = AttentionShape(queryHeads: 8, queryLength: 4096, headDim: 128)
for mask in [AttentionMask.none, .causal] {
let p = AttentionProblem(shape: shape, mask: mask)
let q = rnd(4096*8*128), k = rnd(4096*8*128), v = rnd(4096*8*128)
for t in [1, 2] {
for _ in 0..<3 {
  let t0 = Date()
  _ = try Attention.forward(p, q: q, k: k, v: v, options: .init(threads: t))
  let dt = Date().timeIntervalSince(t0)
  print(mask, "threads", t, dt, p.flops / dt / 1e9, "GF/s")
}}}
