import Foundation
import RMMProtocol

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Host metrics read from /proc and statvfs.
public actor LinuxHostMetrics: HostMetricsSource {
    /// Cumulative CPU ticks from /proc/stat.
    struct CPUTicks: Equatable {
        var busy: UInt64
        var total: UInt64
    }

    /// The previous sample, so CPU% covers the interval between heartbeats rather than since boot.
    private var previous: CPUTicks?
    private let procRoot: String

    public init() { self.procRoot = "/proc" }

    /// For tests: read proc files from another directory.
    init(procRoot: String) { self.procRoot = procRoot }

    public func sample() async -> HostMetrics {
        var metrics = HostMetrics()
        if let ticks = read("stat").flatMap(Self.parseCPU) {
            // First sample: the average since boot, better than nothing.
            let base = previous ?? CPUTicks(busy: 0, total: 0)
            if ticks.total > base.total, ticks.busy >= base.busy {
                metrics.cpuPercent = Double(ticks.busy - base.busy) / Double(ticks.total - base.total) * 100
            }
            previous = ticks
        }
        if let memory = read("meminfo").flatMap(Self.parseMemory) {
            metrics.memoryTotalBytes = memory.total
            metrics.memoryUsedBytes = memory.used
        }
        if let disk = Self.diskUsage(path: "/") {
            metrics.diskTotalBytes = disk.total
            metrics.diskUsedBytes = disk.used
        }
        if let load = read("loadavg").map(Self.parseNumbers), load.count >= 3 {
            metrics.load1 = load[0]
            metrics.load5 = load[1]
            metrics.load15 = load[2]
        }
        metrics.uptimeSeconds = read("uptime").map(Self.parseNumbers)?.first
        return metrics
    }

    private func read(_ name: String) -> String? {
        try? String(contentsOfFile: procRoot + "/" + name, encoding: .utf8)
    }

    /// The aggregate "cpu" line: user nice system idle iowait irq softirq steal (guest is already in user).
    static func parseCPU(_ text: String) -> CPUTicks? {
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("cpu ") }) else { return nil }
        let values = line.split(separator: " ").dropFirst().prefix(8).compactMap { UInt64($0) }
        guard values.count >= 4 else { return nil }
        let idle = values[3] + (values.count > 4 ? values[4] : 0)
        let total = values.reduce(0, +)
        return CPUTicks(busy: total - idle, total: total)
    }

    /// MemTotal and MemAvailable (kB); used = total − available, which is what "free" users expect.
    static func parseMemory(_ text: String) -> (total: Int64, used: Int64)? {
        var fields: [String: Int64] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            guard parts.count >= 2, let value = Int64(parts[1]) else { continue }
            fields[String(parts[0].dropLast())] = value * 1024
        }
        guard let total = fields["MemTotal"], let available = fields["MemAvailable"] else { return nil }
        return (total, max(0, total - available))
    }

    static func parseNumbers(_ text: String) -> [Double] {
        text.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { Double($0) }
    }

    static func diskUsage(path: String) -> (total: Int64, used: Int64)? {
        var stats = statvfs()
        guard statvfs(path, &stats) == 0 else { return nil }
        let blockSize = Int64(stats.f_frsize)
        let total = Int64(stats.f_blocks) * blockSize
        let free = Int64(stats.f_bfree) * blockSize
        return (total, max(0, total - free))
    }
}
