import Foundation

/// Draws a range of an agent's metric history as an SVG image for the agent page: a title, one
/// polyline per series and unbroken run of data (a gap stays a gap; a lone point is a dot), a
/// 0/50/100 % axis, the range's first and last times, and a legend. Only numbers and fixed words
/// go into the markup, and only presentation attributes (no `style`), so it passes the console's
/// CSP as it is. Coordinates are pixels with one decimal.
public enum MetricChartSVG {
    /// The series drawn, in point order, with their colours.
    static let series: [(name: String, colour: String, value: @Sendable (AgentMetricHistory.Point) -> UInt8?)] = [
        ("CPU", "#1f77b4", { $0.cpu }), ("memory", "#2ca02c", { $0.memory }), ("disk", "#d62728", { $0.disk }),
    ]
    /// The image's size; the agent page's `<img>` states the same (`ConsoleAgentTemplates`).
    static let width = 760, height = 200
    static let left = 40, top = 26, plotWidth = 710, plotHeight = 140

    /// The chart of `points` (oldest first), labelled as `range`.
    public static func render(_ points: [AgentMetricHistory.Point], range: AgentMetricHistory.Range) -> String {
        let title = range == .day ? "Last 24 hours, 1-minute points" : "Last 30 days, 15-minute points"
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"metric-chart\" data-test=\"metric-chart\" data-range=\"\(range.rawValue)\""
        svg += " viewBox=\"0 0 \(width) \(height)\" width=\"\(width)\" height=\"\(height)\" role=\"img\""
        svg += " font-family=\"sans-serif\" font-size=\"11\" aria-label=\"CPU, memory and disk use, \(title)\">"
        svg += "<text x=\"\(left)\" y=\"14\" font-size=\"12\" font-weight=\"bold\" fill=\"#333\">\(title)</text>"
        for percent in [0, 50, 100] {
            let y = top + plotHeight - percent * plotHeight / 100
            svg += "<line x1=\"\(left)\" y1=\"\(y)\" x2=\"\(left + plotWidth)\" y2=\"\(y)\" stroke=\"#ccc\" stroke-width=\"1\"/>"
            svg += "<text x=\"\(left - 4)\" y=\"\(y + 4)\" text-anchor=\"end\" fill=\"#555\">\(percent)%</text>"
        }
        let labelY = top + plotHeight + 16
        if let first = points.first, let last = points.last {
            svg += "<text x=\"\(left)\" y=\"\(labelY)\" fill=\"#555\">\(label(first.start, range))</text>"
            svg += "<text x=\"\(left + plotWidth)\" y=\"\(labelY)\" text-anchor=\"end\" fill=\"#555\">\(label(last.start, range))</text>"
        }
        let span = Double(max(points.count - 1, 1))
        for entry in series {
            for run in runs(points.map(entry.value)) {
                let xy = run.map { (x: Double(left) + Double($0.index) * Double(plotWidth) / span,
                                     y: Double(top) + Double(plotHeight) * Double(100 - Int($0.value)) / 100) }
                if xy.count == 1, let dot = xy.first {
                    svg += "<circle data-series=\"\(entry.name)\" cx=\"\(fixed(dot.x))\" cy=\"\(fixed(dot.y))\" r=\"2\" fill=\"\(entry.colour)\"/>"
                } else {
                    let coordinates = xy.map { "\(fixed($0.x)),\(fixed($0.y))" }.joined(separator: " ")
                    svg += "<polyline data-series=\"\(entry.name)\" points=\"\(coordinates)\" fill=\"none\" stroke=\"\(entry.colour)\" stroke-width=\"1.5\" stroke-linejoin=\"round\"/>"
                }
            }
        }
        for (index, entry) in series.enumerated() {
            let x = left + 240 + index * 80
            svg += "<line x1=\"\(x)\" y1=\"\(labelY - 4)\" x2=\"\(x + 14)\" y2=\"\(labelY - 4)\" stroke=\"\(entry.colour)\" stroke-width=\"3\"/>"
            svg += "<text x=\"\(x + 18)\" y=\"\(labelY)\" fill=\"#333\">\(entry.name)</text>"
        }
        return svg + "</svg>"
    }

    /// The unbroken runs of values, each point with its index.
    static func runs(_ values: [UInt8?]) -> [[(index: Int, value: UInt8)]] {
        var runs: [[(index: Int, value: UInt8)]] = []
        var current: [(index: Int, value: UInt8)] = []
        for (index, value) in values.enumerated() {
            if let value {
                current.append((index, value))
            } else if !current.isEmpty {
                runs.append(current)
                current = []
            }
        }
        if !current.isEmpty { runs.append(current) }
        return runs
    }

    /// A non-negative coordinate with one decimal ("40", "40.5"), the same whatever the locale.
    static func fixed(_ value: Double) -> String {
        let tenths = Int((max(value, 0) * 10).rounded())
        return tenths % 10 == 0 ? "\(tenths / 10)" : "\(tenths / 10).\(tenths % 10)"
    }

    /// A bucket's start in UTC: "2026-12-06 13:51 UTC" on the day chart, "2026-12-06" on the month's.
    static func label(_ date: Date, _ range: AgentMetricHistory.Range) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = .gmt
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute], from: date)
        func two(_ value: Int?) -> String {
            let value = value ?? 0
            return value < 10 ? "0\(value)" : "\(value)"
        }
        let day = "\(parts.year ?? 0)-\(two(parts.month))-\(two(parts.day))"
        return range == .day ? "\(day) \(two(parts.hour)):\(two(parts.minute)) UTC" : day
    }
}
