import Foundation
import Subprocess

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Linux (and other POSIX) commands: `/bin/sh`, process groups, signals.
public struct LinuxCommandPlatform: CommandPlatform {
    public init() {}

    public var defaultInterpreter: String { "/bin/sh" }
    public var scriptFileExtension: String { "" }

    public func shellInvocation(commandLine: String) -> ProcessInvocation {
        ProcessInvocation(executable: "/bin/sh", arguments: ["-c", commandLine])
    }

    public func scriptInvocation(interpreter: String, scriptPath: String) -> ProcessInvocation {
        ProcessInvocation(executable: interpreter, arguments: [scriptPath])
    }

    public func spawnOptions() -> PlatformOptions {
        var options = PlatformOptions()
        // 0 = a new group whose id is the child's pid, so one kill(-pid) reaches every descendant
        // that did not deliberately leave (setsid), including grandchildren holding our pipes.
        options.processGroupID = 0
        // Backstop only: used if the task running the command is itself cancelled.
        options.teardownSequence = [.send(signal: .terminate, toProcessGroup: true, allowedDurationToNextStep: .seconds(2))]
        return options
    }

    @discardableResult
    public func stopProcessGroup(leader: Int32, how: GroupStop) -> Bool {
        guard leader > 1 else { return false }  // never kill(0) / kill(-1): that would hit the agent or everything
        let signal = how == .kill ? SIGKILL : SIGTERM
        return kill(-leader, signal) == 0
    }

    public func processIdentity(pid: Int32) -> String? {
        guard pid > 0, let boot = Self.bootID(), let start = Self.startTime(pid: pid) else { return nil }
        return "\(boot):\(start)"
    }

    @discardableResult
    public func killOrphanedProcessGroup(leader: Int32, identity: String?) -> Bool {
        guard leader > 1, let identity, let boot = Self.bootID(), identity.hasPrefix(boot + ":") else {
            // Recorded before a reboot (or never identified): every process of that boot is gone,
            // and the pid may now belong to something unrelated.
            return false
        }
        if let current = processIdentity(pid: leader) {
            // The leader is alive: only ours if it is the same process instance, not a reused pid.
            guard current == identity else { return false }
        }
        // Leader gone but the group may still hold orphans: a group id stays reserved while members live.
        return kill(-leader, SIGKILL) == 0
    }

    /// Changes on every boot, so pids recorded before a reboot are never trusted.
    static func bootID() -> String? {
        guard let text = try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8) else { return nil }
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return trimmed.isEmpty ? nil : trimmed
    }

    /// Field 22 of /proc/<pid>/stat: start time in clock ticks since boot. Zombies count as gone.
    static func startTime(pid: Int32) -> String? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        // The command name (field 2) may contain spaces and parentheses; fields after the last ')' do not.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (state); field 22 is fields[19].
        guard fields.count > 19, fields[0] != "Z", fields[0] != "X" else { return nil }
        return String(fields[19])
    }
}
