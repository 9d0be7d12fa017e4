import Foundation

/// Memory and CPU of a process, read from /proc (Linux).
struct ProcessStats: Sendable {
    /// Resident set size, bytes.
    var residentBytes: Int
    /// User + system CPU time, seconds.
    var cpuSeconds: Double

    static func read(pid: Int32) -> ProcessStats? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return nil }
        var rss = 0
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            rss = (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
        }
        // Fields after the command name (which may hold spaces) start after the last ')'.
        guard let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after "pid (comm)".
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        return ProcessStats(residentBytes: rss, cpuSeconds: (user + system) / ticks)
    }
}

/// Percentiles of a sample, in the sample's unit.
struct Percentiles: Sendable {
    var p50: Double
    var p95: Double
    var p99: Double
    var max: Double
    var count: Int

    init(_ values: [Double]) {
        let sorted = values.sorted()
        // Nearest rank: the smallest value with at least q of the sample at or below it.
        func at(_ q: Double) -> Double {
            guard !sorted.isEmpty else { return .nan }
            let rank = Int((q * Double(sorted.count)).rounded(.up))
            return sorted[min(sorted.count - 1, Swift.max(0, rank - 1))]
        }
        p50 = at(0.5)
        p95 = at(0.95)
        p99 = at(0.99)
        max = sorted.last ?? .nan
        count = sorted.count
    }
}
