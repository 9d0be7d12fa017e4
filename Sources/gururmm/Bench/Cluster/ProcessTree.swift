import Foundation

/// CPU of a process and of its children, from /proc (Linux): what PostgreSQL's processes use.
enum ProcessTree {
    /// A process's CPU seconds: its own, and its own plus its reaped children's.
    struct CPU {
        var own: Double
        var withReapedChildren: Double
    }

    static func cpu(pid: Int32) -> CPU? {
        guard let fields = statFields(pid), fields.count > 14,
              let user = Double(fields[11]), let system = Double(fields[12]),
              let childUser = Double(fields[13]), let childSystem = Double(fields[14]) else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        return CPU(own: (user + system) / ticks, withReapedChildren: (user + system + childUser + childSystem) / ticks)
    }

    /// The live processes whose parent is `parent`.
    static func children(of parent: Int32) -> [Int32] {
        let pids = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap(Int32.init)
        // Field 4 of the whole line, the parent's id, is field 2 after "pid (comm)".
        return pids.filter { pid in statFields(pid).flatMap { $0.count > 1 ? Int32($0[1]) : nil } == parent }
    }

    /// /proc/PID/stat's fields after the command name (which may hold spaces): state is [0].
    private static func statFields(_ pid: Int32) -> [Substring]? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return nil }
        return stat[stat.index(after: close)...].split(separator: " ")
    }

    /// Open file descriptors of a process (its entries in /proc/PID/fd), or nil if unreadable.
    static func openFiles(pid: Int32) -> Int? {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd"))?.count
    }
}
