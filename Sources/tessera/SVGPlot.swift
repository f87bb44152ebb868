import Foundation

/// A hand-written SVG line chart (no plotting dependency): linear axes with "nice" ticks, one
/// polyline with markers per series, optional dashed reference series, a legend and a title.
/// Every series is a `<g class="series" data-name="…">` so tests (and scripts) can find it.
struct SVGPlot {
  struct Series {
    var name: String
    var points: [(x: Double, y: Double)]
    /// Dashed, no markers (the ideal line).
    var dashed = false
  }

  var title: String
  var subtitle: String?
  var xLabel: String
  var yLabel: String
  var series: [Series]
  var width = 820.0
  var height = 540.0

  /// Colour-blind-safe palette (Okabe–Ito), cycled.
  static let palette = [
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000",
  ]

  /// Ticks covering [lo, hi] at 1, 2 or 5 × 10^k, about `count` of them.
  static func ticks(_ lo: Double, _ hi: Double, count: Int = 6) -> [Double] {
    guard hi > lo, lo.isFinite, hi.isFinite else { return [lo] }
    let raw = (hi - lo) / Double(max(1, count))
    let magnitude = pow(10, (log10(raw)).rounded(.down))
    let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
    var t = (lo / step).rounded(.up) * step
    var out: [Double] = []
    while t <= hi + step * 1e-9 {
      out.append(abs(t) < step * 1e-9 ? 0 : t)
      t += step
    }
    return out
  }

  static func label(_ x: Double) -> String {
    if x == x.rounded() && abs(x) < 1e6 { return String(Int(x)) }
    return String(format: "%g", x)
  }

  static func escape(_ s: String) -> String {
    s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
      .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
  }

  func render() -> String {
    let all = series.flatMap(\.points).filter { $0.x.isFinite && $0.y.isFinite }
    let xMax = max(all.map(\.x).max() ?? 1, 1)
    let yMax = max(all.map(\.y).max() ?? 1, 1)
    // Both axes start at 0 (speedup and threads are ratios to nothing) and end at a tick.
    let xTicks = Self.ticks(0, xMax, count: min(8, max(2, Int(xMax))))
    let yTicks = Self.ticks(0, yMax, count: 6)
    let xHi = max(xTicks.last ?? xMax, xMax)
    let yHi = max(yTicks.last ?? yMax, yMax)

    // The legend sits right of the plot, as wide as its longest name (≈ 7 px a character at
    // 12 px DejaVu Sans); the canvas widens so the plot keeps at least 480 px.
    let longest = series.map(\.name.count).max() ?? 0
    let legendWidth = max(160, 34 + 7 * Double(longest) + 18)
    let width = max(self.width, 72 + 480 + legendWidth + 20)
    let left = 72.0, right = width - legendWidth - 20, top = subtitle == nil ? 56.0 : 74.0
    let bottom = height - 62
    func px(_ x: Double) -> Double { left + x / xHi * (right - left) }
    func py(_ y: Double) -> Double { bottom - y / yHi * (bottom - top) }
    func f(_ v: Double) -> String { String(format: "%.1f", v) }

    var s = """
      <?xml version="1.0" encoding="UTF-8"?>
      <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" \
      viewBox="0 0 \(Int(width)) \(Int(height))" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">
      <rect x="0" y="0" width="\(Int(width))" height="\(Int(height))" fill="white"/>
      <text x="\(f(width / 2))" y="28" text-anchor="middle" font-size="18" font-weight="bold">\
      \(Self.escape(title))</text>

      """
    if let subtitle {
      s += """
        <text x="\(f(width / 2))" y="50" text-anchor="middle" font-size="12" fill="#555">\
        \(Self.escape(subtitle))</text>

        """
    }
    // Grid and ticks.
    s += "<g class=\"grid\" stroke=\"#e3e3e3\" stroke-width=\"1\">\n"
    for t in xTicks {
      s += "<line x1=\"\(f(px(t)))\" y1=\"\(f(top))\" x2=\"\(f(px(t)))\" y2=\"\(f(bottom))\"/>\n"
    }
    for t in yTicks {
      s += "<line x1=\"\(f(left))\" y1=\"\(f(py(t)))\" x2=\"\(f(right))\" y2=\"\(f(py(t)))\"/>\n"
    }
    s += "</g>\n<g class=\"axes\" stroke=\"#333\" stroke-width=\"1.5\">\n"
    s += "<line x1=\"\(f(left))\" y1=\"\(f(bottom))\" x2=\"\(f(right))\" y2=\"\(f(bottom))\"/>\n"
    s += "<line x1=\"\(f(left))\" y1=\"\(f(top))\" x2=\"\(f(left))\" y2=\"\(f(bottom))\"/>\n"
    for t in xTicks {
      s +=
        "<line x1=\"\(f(px(t)))\" y1=\"\(f(bottom))\" x2=\"\(f(px(t)))\" y2=\"\(f(bottom + 5))\"/>\n"
    }
    for t in yTicks {
      s += "<line x1=\"\(f(left - 5))\" y1=\"\(f(py(t)))\" x2=\"\(f(left))\" y2=\"\(f(py(t)))\"/>\n"
    }
    s += "</g>\n<g class=\"tick-labels\" font-size=\"12\" fill=\"#333\">\n"
    for t in xTicks {
      s +=
        "<text x=\"\(f(px(t)))\" y=\"\(f(bottom + 20))\" text-anchor=\"middle\">\(Self.label(t))</text>\n"
    }
    for t in yTicks {
      s +=
        "<text x=\"\(f(left - 9))\" y=\"\(f(py(t) + 4))\" text-anchor=\"end\">\(Self.label(t))</text>\n"
    }
    s += "</g>\n"
    s += """
      <text class="x-label" x="\(f((left + right) / 2))" y="\(f(height - 18))" text-anchor="middle" \
      font-size="14">\(Self.escape(xLabel))</text>
      <text class="y-label" x="20" y="\(f((top + bottom) / 2))" text-anchor="middle" font-size="14" \
      transform="rotate(-90 20 \(f((top + bottom) / 2)))">\(Self.escape(yLabel))</text>

      """

    // Series: clipped to the plot area.
    s += """
      <defs><clipPath id="plot-area"><rect x="\(f(left))" y="\(f(top - 6))" \
      width="\(f(right - left + 6))" height="\(f(bottom - top + 6))"/></clipPath></defs>

      """
    var colour = 0
    var legend: [(name: String, colour: String, dashed: Bool)] = []
    for series in series {
      let c = series.dashed ? "#777777" : Self.palette[colour % Self.palette.count]
      if !series.dashed { colour += 1 }
      legend.append((series.name, c, series.dashed))
      let pts = series.points.filter { $0.x.isFinite && $0.y.isFinite }.sorted { $0.x < $1.x }
      let path = pts.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ")
      s +=
        "<g class=\"series\" data-name=\"\(Self.escape(series.name))\" clip-path=\"url(#plot-area)\">\n"
      s +=
        "<polyline fill=\"none\" stroke=\"\(c)\" stroke-width=\"\(series.dashed ? "1.5" : "2.5")\""
        + (series.dashed ? " stroke-dasharray=\"7 5\"" : "") + " points=\"\(path)\"/>\n"
      if !series.dashed {
        for p in pts {
          s += "<circle cx=\"\(f(px(p.x)))\" cy=\"\(f(py(p.y)))\" r=\"4\" fill=\"\(c)\"/>\n"
        }
      }
      s += "</g>\n"
    }

    // Legend, right of the plot.
    let lx = right + 24
    s += "<g class=\"legend\" font-size=\"12\">\n"
    s +=
      "<rect x=\"\(f(lx - 8))\" y=\"\(f(top - 4))\" width=\"\(f(legendWidth - 10))\" height=\"\(f(Double(legend.count) * 22 + 10))\" fill=\"white\" stroke=\"#ccc\"/>\n"
    for (i, entry) in legend.enumerated() {
      let y = top + 12 + Double(i) * 22
      s +=
        "<line x1=\"\(f(lx))\" y1=\"\(f(y))\" x2=\"\(f(lx + 26))\" y2=\"\(f(y))\" stroke=\"\(entry.colour)\""
        + " stroke-width=\"\(entry.dashed ? "1.5" : "2.5")\""
        + (entry.dashed ? " stroke-dasharray=\"7 5\"" : "") + "/>\n"
      if !entry.dashed {
        s += "<circle cx=\"\(f(lx + 13))\" cy=\"\(f(y))\" r=\"4\" fill=\"\(entry.colour)\"/>\n"
      }
      s += "<text x=\"\(f(lx + 34))\" y=\"\(f(y + 4))\">\(Self.escape(entry.name))</text>\n"
    }
    s += "</g>\n</svg>\n"
    return s
  }
}
