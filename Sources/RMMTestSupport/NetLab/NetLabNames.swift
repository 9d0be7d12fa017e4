import Foundation
import Synchronization

/// Naming, stale-namespace cleanup and deletion for NetLab namespaces.
enum NetLabNames {
    private static let counter = Mutex(0)

    /// `<label>-<pid>-<n>`: unique per process and per call, and recognisable as stale once
    /// the pid is gone.
    static func unique(label: String) -> String {
        let index = counter.withLock { value in
            value += 1
            return value
        }
        return "\(label)-\(getpid())-\(index)"
    }

    /// The X of 10.231.X.0/30, stable per label (FNV-1a; Swift's hashValue is seeded per run).
    static func subnet(for label: String) -> Int {
        var hash: UInt32 = 2_166_136_261
        for byte in label.utf8 {
            hash = (hash ^ UInt32(byte)) &* 16_777_619
        }
        return Int(hash % 256)
    }

    /// Deletes namespaces `<label>-<pid>-<n>-srv|agt` left behind by processes that are gone.
    static func removeStale(label: String, tools: NetLabTools) throws {
        let listing = try NetLabShell.run(tools.ip, ["netns", "list"])
        for line in listing.split(separator: "\n") {
            guard let name = line.split(separator: " ").first.map(String.init),
                  let pid = ownerPid(of: name, label: label),
                  pid != getpid(), kill(pid, 0) == -1, errno == ESRCH
            else { continue }
            delete(namespace: name, tools: tools)
        }
    }

    /// Kills whatever still runs inside `namespace` (only test children can be there) and
    /// deletes it; failures are reported on stderr, since there is no one left to throw to.
    static func delete(namespace: String, tools: NetLabTools) {
        if let (status, pids) = try? NetLabShell.runUnchecked(tools.ip, ["netns", "pids", namespace]), status == 0 {
            for pid in pids.split(whereSeparator: \.isWhitespace).compactMap({ pid_t($0) }) {
                kill(pid, SIGKILL)
            }
        }
        do {
            let (status, output) = try NetLabShell.runUnchecked(tools.ip, ["netns", "del", namespace])
            if status != 0 && !output.contains("No such file") {
                FileHandle.standardError.write(Data("NetLab: cannot delete namespace \(namespace): \(output)\n".utf8))
            }
        } catch {
            FileHandle.standardError.write(Data("NetLab: cannot delete namespace \(namespace): \(error)\n".utf8))
        }
    }

    /// The pid in `<label>-<pid>-<n>-srv|agt`, or nil if `name` is not a NetLab namespace of `label`.
    private static func ownerPid(of name: String, label: String) -> pid_t? {
        guard name.hasPrefix("\(label)-") else { return nil }
        let parts = name.dropFirst(label.count + 1).split(separator: "-")
        guard parts.count == 3, let pid = pid_t(parts[0]), Int(parts[1]) != nil,
              parts[2] == "srv" || parts[2] == "agt"
        else { return nil }
        return pid
    }
}
