import Foundation
import RMMAPI

/// `gururmm agents --watch`: fetches the agent list every `interval` seconds and shows it, in
/// place on a terminal, as timestamped plain tables otherwise, until SIGINT or SIGTERM (exit 0).
struct AgentsWatch {
    let client: GuruAPIClient
    let interval: Double

    func run() async throws {
        let onTerminal = isatty(STDOUT_FILENO) == 1
        let client = client, interval = interval
        try await runUntilSignalled {
            var first = true
            while !Task.isCancelled {
                let now = Date()
                let lines: [String]
                do {
                    lines = AgentsCommand.List.report(try await client.agents(), now: now)
                } catch {
                    if Task.isCancelled { break }
                    // A server restarting is no reason to stop watching it.
                    lines = ["error: \(error)"]
                }
                let title = "every \(String(format: "%g", interval))s · \(now.ISO8601Format()) · Ctrl-C to stop"
                let frame = onTerminal ? WatchFrame.terminal(lines, title: title, first: first) : WatchFrame.plain(lines, at: now)
                FileHandle.standardOutput.write(Data(frame.utf8))
                first = false
                try await Task.sleep(for: .milliseconds(Int(interval * 1000)))
            }
        }
        if onTerminal { FileHandle.standardOutput.write(Data(WatchFrame.restore.utf8)) }
    }
}
