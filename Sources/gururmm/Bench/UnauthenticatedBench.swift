import Foundation
import RMMFleetSim
import RMMServer
import RMMTransport

/// `gururmm bench --unauthenticated N`: what N idle connections that never authenticate cost the
/// server, read from its resident memory (RSS) before, while they are held and after they close.
///
/// Four phases, each against a fresh server: N plain TCP sockets that send nothing, then N
/// WebSockets that upgrade and then stay silent (each also holds a handshake), both with the global
/// cap raised above N; then both again with the server's default cap, which refuses the surplus
/// with 503. The sockets come from many loopback addresses (16 each, like hosts) and the handshake
/// timeout is raised to `holdSeconds` + 60 s, so the server does not close them while they are
/// measured (with its default of 10 s it would). "After close" is read `settleSeconds` (12 s) after
/// the server closed its side, once its heap trimmer had the chance to return the freed memory.
struct UnauthenticatedBench {
    let count: Int
    let directory: String
    /// How long the sockets are held before their memory is read.
    var holdSeconds: Double = 5
    /// How long after the server closed its side memory is read again.
    var settleSeconds: Double = 12

    /// One phase's figures.
    struct Phase: Sendable {
        var name: String
        var cap: String
        var opened: Int
        var held: Int
        var refused: [Int: Int]
        var before: Int
        var holding: Int
        var after: Int
    }

    func execute() async throws -> String {
        let files = OpenFileLimit.raise(toAtLeast: count + 1024)
        guard files.soft > count + 256 else {
            throw BenchError("the open-file limit (\(files.soft)) is too low for \(count) sockets; raise it with ulimit -n")
        }
        var phases: [Phase] = []
        let timeout = String(Int(holdSeconds + 60))
        let raised = ["--handshake-timeout", timeout, "--max-unauthenticated", String(count * 2)]
        let capped = ["--handshake-timeout", timeout]
        phases.append(try await phase("idle TCP", cap: "\(count * 2) (raised)", server: raised, upgrade: false, run: 1))
        phases.append(try await phase("upgraded, silent WebSocket", cap: "\(count * 2) (raised)", server: raised, upgrade: true, run: 2))
        let defaultCap = ServerSettings().maxUnauthenticated
        phases.append(try await phase("idle TCP", cap: "\(defaultCap) (default)", server: capped, upgrade: false, run: 3))
        phases.append(try await phase("upgraded, silent WebSocket", cap: "\(defaultCap) (default)", server: capped, upgrade: true, run: 4))
        return render(phases)
    }

    private func phase(_ name: String, cap: String, server arguments: [String], upgrade: Bool, run: Int) async throws -> Phase {
        note("\(name), cap \(cap): starting a server")
        let runDirectory = directory + "/unauthenticated-\(run)"
        try FileManager.default.createDirectory(atPath: runDirectory, withIntermediateDirectories: true)
        let server = try await BenchServer(directory: runDirectory, extraArguments: arguments)
        do {
            let result = try await measure(name, cap: cap, server: server, upgrade: upgrade)
            await server.child.stop()
            return result
        } catch {
            await server.child.stop()
            throw BenchError("\(error)\n(server log in \(runDirectory))")
        }
    }

    private func measure(_ name: String, cap: String, server: BenchServer, upgrade: Bool) async throws -> Phase {
        let pid = server.child.pid
        try await Task.sleep(for: .seconds(1))
        let baseFiles = Self.openFiles(pid: pid)
        guard let before = server.stats()?.residentBytes else { throw BenchError("cannot read the server's memory") }
        let sources = SourceAddresses.automatic(for: try ServerEndpoint(parsing: server.ready.agentUrl), count: (count + 15) / 16)
        let sockets = IdleSockets()
        note("\(name): opening \(count) sockets from \(sources.count) addresses")
        try await sockets.open(count: count, port: server.ready.agentPort, sources: sources, upgrade: upgrade)
        // Held: the server has accepted every socket it did not refuse, and answered every upgrade.
        try await benchWait("the server to take the sockets", timeout: 180, every: 0.5) {
            let tally = sockets.counts
            let refused = tally.statuses.values.reduce(0, +)
            let accepted = Self.openFiles(pid: pid) - baseFiles + tally.closedByServer
            return accepted >= count && (!upgrade || tally.upgraded + refused >= count)
        }
        try await Task.sleep(for: .milliseconds(Int(holdSeconds * 1000)))
        let tally = sockets.counts
        let held = Self.openFiles(pid: pid) - baseFiles
        guard let holding = server.stats()?.residentBytes else { throw BenchError("cannot read the server's memory") }
        note("\(name): \(held) held, RSS \(holding >> 20) MiB; closing")
        await sockets.closeAll()
        try await benchWait("the server to close its side", timeout: 120, every: 0.5) { Self.openFiles(pid: pid) <= baseFiles + 8 }
        // By default long enough for two of the server's heap-trim checks (every 5 s).
        try await Task.sleep(for: .milliseconds(Int(settleSeconds * 1000)))
        let after = server.stats()?.residentBytes ?? 0
        return Phase(name: name, cap: cap, opened: count, held: held, refused: tally.statuses, before: before, holding: holding, after: after)
    }

    /// File descriptors the process has open (its sockets, among others).
    static func openFiles(pid: Int32) -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? 0
    }

    private func render(_ phases: [Phase]) -> String {
        func mib(_ bytes: Int) -> String { String(format: "%.1f MiB", Double(bytes) / 1_048_576) }
        var lines = [
            "Idle unauthenticated sockets (\(count) opened per phase; handshake timeout raised to \(Int(holdSeconds + 60)) s; "
                + "held \(Int(holdSeconds)) s; after close read \(Int(settleSeconds)) s later)",
            "",
            "| Sockets | Global cap | Held by the server | Refused | RSS before | RSS holding | Per held socket | RSS after close |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for phase in phases {
            let refused = phase.refused.isEmpty ? "0" : phase.refused.sorted { $0.key < $1.key }.map { "\($0.value) × \($0.key)" }.joined(separator: ", ")
            let per = phase.held > 0 ? String(format: "%.1f KiB", Double(phase.holding - phase.before) / Double(phase.held) / 1024) : "—"
            lines.append("| \(phase.opened) \(phase.name) | \(phase.cap) | \(phase.held) | \(refused) | \(mib(phase.before)) | \(mib(phase.holding)) | \(per) | \(mib(phase.after)) |")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private func note(_ text: String) {
        FileHandle.standardError.write(Data("bench: \(text)\n".utf8))
    }
}
