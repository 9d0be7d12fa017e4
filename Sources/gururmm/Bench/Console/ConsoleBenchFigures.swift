import Foundation

/// The pure parts of `gururmm bench --console`: what a fleet page holds, the session cookie a login
/// sets, and the table the figures make.
enum ConsolePageScan {
    /// The marker every agent row of the fleet page carries.
    static let rowMarker = #"data-test="agent-row""#
    /// The console's session cookie.
    static let sessionCookie = "gururmm_session"

    /// How many agent rows the page holds.
    static func rowCount(_ html: String) -> Int {
        html.components(separatedBy: rowMarker).count - 1
    }

    /// The agent ids of the page's rows, in page order (each row's `data-agent`, inside its own tag).
    static func agentIds(_ html: String) -> [String] {
        var ids: [String] = []
        var rest = html[...]
        while let marker = rest.range(of: rowMarker) {
            let tagEnd = rest[marker.upperBound...].firstIndex(of: ">") ?? rest.endIndex
            let tag = rest[marker.upperBound..<tagEnd]
            if let open = tag.range(of: #"data-agent=""#), let close = tag[open.upperBound...].firstIndex(of: "\"") {
                ids.append(String(tag[open.upperBound..<close]))
            }
            rest = rest[tagEnd...]
        }
        return ids
    }

    /// The value of the `name` cookie a `Set-Cookie` header sets, or nil if it sets another.
    static func cookie(named name: String, in setCookie: String) -> String? {
        let pair = setCookie.split(separator: ";", maxSplits: 1).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        guard let equals = pair.firstIndex(of: "="), pair[..<equals] == name else { return nil }
        let value = String(pair[pair.index(after: equals)...])
        return value.isEmpty ? nil : value
    }
}

/// The figures of one `gururmm bench --console` run and their Markdown table.
struct ConsoleBenchFigures: Sendable {
    /// The server's CPU and memory over one window.
    struct Idle: Sendable {
        var consoles: Int
        /// Percent of one core.
        var cpuPercent: Double
        var residentBytes: Int
        /// Bytes the consoles' streams received during the window.
        var streamBytes: Int
    }

    /// The server's idle targets (BENCHMARKS.md, the fleet-scale issue): under 10 % of one core
    /// and at most 20 KiB of memory per agent with 10,000 agents.
    static let idleCPUPercentTarget = 10.0
    static let idleBytesPerAgentTarget = 20.0 * 1024
    /// The fleet page's first rows within a second.
    static let firstRowsTargetSeconds = 1.0

    var agents: Int
    var onlineSeconds: Double
    var pageLoads: Int
    var firstByte: Percentiles
    var fullBody: Percentiles
    var bodyBytes: Int
    var rows: Int
    var windowSeconds: Double
    /// The server's resident memory before any agent enrolled.
    var baselineBytes: Int = 0
    /// The loads in Chromium, or nil with `chromiumSkipped` saying why.
    var chromium: ChromiumFigures?
    var chromiumSkipped = ""
    var idle: [Idle] = []

    /// "1.23×", or "—" when the base is not positive.
    static func ratio(_ value: Double, over base: Double) -> String {
        guard base > 0, value.isFinite else { return "—" }
        return String(format: "%.2f×", value / base)
    }

    /// "12.3 ms", or "—" for an empty sample's NaN.
    static func milliseconds(_ seconds: Double) -> String { seconds.isFinite ? String(format: "%.1f ms", seconds * 1000) : "—" }

    static func mebibytes(_ bytes: Int) -> String { String(format: "%.1f MiB", Double(bytes) / 1_048_576) }

    static func grouped(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var out = ""
        for (index, digit) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { out += "," }
            out.append(digit)
        }
        return (value < 0 ? "-" : "") + out
    }

    static func verdict(_ met: Bool) -> String { met ? "met" : "**missed**" }

    /// The server's memory per agent above its baseline in a window.
    func bytesPerAgent(_ window: Idle) -> Double {
        Double(window.residentBytes - baselineBytes) / Double(max(agents, 1))
    }

    func render() -> String {
        var lines = [
            "Web console with \(Self.grouped(agents)) idle simulated agents (SQLite, online in \(String(format: "%.1f", onlineSeconds)) s)",
            "",
        ]
        lines += browserLines()
        lines += [
            "| fleet page `GET /` over HTTP (\(pageLoads) loads, one session) | p50 | p95 | max | body | rows |",
            "|---|---|---|---|---|---|",
            "| first byte of the body | \(Self.milliseconds(firstByte.p50)) | \(Self.milliseconds(firstByte.p95)) | \(Self.milliseconds(firstByte.max)) "
                + "| \(Self.grouped(bodyBytes)) bytes | \(rows) |",
            "| whole body | \(Self.milliseconds(fullBody.p50)) | \(Self.milliseconds(fullBody.p95)) | \(Self.milliseconds(fullBody.max)) | | |",
            "",
            "| idle server, \(Int(windowSeconds)) s window | CPU (% of one core) | RSS | memory per agent | bytes the streams received | target: CPU < 10 %, ≤ 20 KiB per agent |",
            "|---|---|---|---|---|---|",
        ]
        for window in idle {
            let perAgent = bytesPerAgent(window)
            let met = window.cpuPercent < Self.idleCPUPercentTarget && perAgent <= Self.idleBytesPerAgentTarget
            lines.append("| \(window.consoles) consoles | \(String(format: "%.1f %%", window.cpuPercent)) | \(Self.mebibytes(window.residentBytes)) "
                         + "| \(String(format: "%.1f KiB", perAgent / 1024)) | \(Self.grouped(window.streamBytes)) | \(Self.verdict(met)) |")
        }
        if let base = idle.first, let open = idle.last, idle.count > 1 {
            lines.append("| \(open.consoles) ÷ \(base.consoles) consoles | \(Self.ratio(open.cpuPercent, over: base.cpuPercent)) "
                         + "| \(Self.ratio(Double(open.residentBytes), over: Double(base.residentBytes))) "
                         + "| \(Self.ratio(bytesPerAgent(open), over: bytesPerAgent(base))) | | |")
        }
        lines.append("")
        lines.append("Server baseline before the agents enrolled: \(Self.mebibytes(baselineBytes)) resident.")
        return lines.joined(separator: "\n") + "\n"
    }

    /// The Chromium table and the page's size, or the line saying it was skipped.
    private func browserLines() -> [String] {
        guard let chromium, let first = chromium.loads.first else {
            return ["Chromium: **skipped** (\(chromiumSkipped)); the first-rows target is not measured in a browser.", ""]
        }
        let firstRow = chromium.seconds { $0.firstRowOrParsed }
        let label = chromium.observed ? "first agent row in the DOM" : "first agent row in the DOM (end of parsing: the observer was not installed)"
        func row(_ name: String, _ sample: Percentiles, _ target: String) -> String {
            "| \(name) | \(Self.milliseconds(sample.p50)) | \(Self.milliseconds(sample.p95)) | \(Self.milliseconds(sample.max)) | \(target) |"
        }
        let last = chromium.loads.last ?? first
        return [
            "| fleet page in headless Chromium (\(chromium.loads.count) loads, one session), from navigation start | p50 | p95 | max | target |",
            "|---|---|---|---|---|",
            row(label, firstRow, "p95 < 1 s: \(Self.verdict(firstRow.p95 < Self.firstRowsTargetSeconds))"),
            row("first byte of the document", chromium.seconds { $0.responseStart }, "—"),
            row("first contentful paint", chromium.seconds { $0.firstPaint }, "—"),
            row("DOMContentLoaded", chromium.seconds { $0.domContentLoaded }, "—"),
            row("load event", chromium.seconds { $0.load }, "—"),
            "",
            "Page size in Chromium: the document \(Self.grouped(last.documentBody)) bytes of HTML (\(Self.grouped(last.documentTransfer)) on the wire), "
                + "\(last.rows) rows of \(Self.grouped(agents)) agents (paginated on the server); its \(last.resources) other requests "
                + "\(Self.grouped(last.resourceBody)) bytes as sent (first load: \(Self.grouped(first.resourceTransfer)) on the wire, "
                + "last: \(Self.grouped(last.resourceTransfer))).",
            "",
        ]
    }
}
