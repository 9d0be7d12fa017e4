import ArgumentParser
import Foundation
import RMMFleetSim
import RMMTransport

/// `gururmm fleet-sim`: N simulated agents in one process, for load tests of a server.
struct FleetSimCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleet-sim",
        abstract: "Simulate many agents in one process against a server (load tests).",
        discussion: """
        Each simulated agent speaks the real protocol on its own connection (enrollment, hello, \
        heartbeats, acks, resume) but answers commands at once with a `succeeded` result (stdout \
        "sim"), or runs them for real with --fork. Identities are kept in DIR/fleet-sim.json, so a \
        restarted simulator comes back as the same agents. Prints a status line every few seconds \
        and a summary on SIGINT/SIGTERM.
        """
    )

    @OptionGroup var connection: ServerConnectionOptions

    @Option(name: .customLong("agents"), help: "How many agents to simulate.")
    var agents: Int

    @Option(name: .customLong("state-dir"), help: "Where the fleet's identities are kept (one file).")
    var stateDirectory: String = "./gururmm-fleet-sim"

    @Flag(name: .customLong("fork"), help: "Run commands for real with /bin/sh -c (bounded by --fork-concurrency) instead of answering at once.")
    var fork = false

    @Option(name: .customLong("fork-concurrency"), help: "Processes running at once over the whole fleet with --fork.")
    var forkConcurrency = 8

    @Flag(name: .customLong("verify-signatures"), help: "Check the server's signatures on commands and configs like a real agent (off by default: it puts an Ed25519 verification per command per agent into the simulator's CPU).")
    var verifySignatures = false

    @Option(name: .customLong("name-prefix"), help: "Agent names are PREFIX00001, PREFIX00002, ... (names are kept in the state file).")
    var namePrefix = "sim-"

    @Option(name: .customLong("connect-concurrency"), help: "Connections being opened and authenticated at once.")
    var connectConcurrency = 256

    @Option(name: .customLong("connects-per-address"), help: "The same per source address that agents share (the server answers 429 past its --max-unauthenticated-per-address, 32 by default).")
    var connectsPerAddress = 30

    @Option(name: .customLong("source-addresses"), help: "Local addresses to connect from, shared round robin, e.g. 10.0.0.2-10.0.0.20,10.0.0.37; 'auto' (default: an address of 127/8 per agent for a loopback server, else the OS picks), or 'none' (the OS picks).")
    var sourceAddresses = "auto"

    @Option(name: .customLong("max-backoff"), help: "Longest pause between reconnect attempts, seconds (full jitter from 0.5 s, doubling).")
    var maxBackoff = 30.0

    @Option(name: .customLong("status-interval"), help: "Seconds between status lines.")
    var statusInterval = 5.0

    @Flag(name: .customLong("json"), help: "Status lines and the summary as JSON objects, one a line.")
    var json = false

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error.")
    var logLevel: String = "warning"

    func run() async throws {
        let servers = try connection.endpoints()
        let endpoint = servers.first
        guard servers.others.allSatisfy({ $0.secure == endpoint.secure }) else {
            throw ValidationError("fleet-sim: every --server must use the same scheme (its agents share one TLS trust)")
        }
        guard statusInterval > 0 else { throw ValidationError("--status-interval must be positive") }
        var options = FleetSimOptions(endpoint: endpoint, count: agents, enrollToken: connection.enrollToken, stateDirectory: stateDirectory, version: GuruRMM.version)
        options.allowPlain = connection.allowPlain
        options.otherServers = servers.others
        options.fork = fork
        options.forkConcurrency = forkConcurrency
        options.verifySignatures = verifySignatures
        options.namePrefix = namePrefix
        options.connectConcurrency = connectConcurrency
        options.connectsPerAddress = connectsPerAddress
        options.maxBackoff = maxBackoff
        options.minBackoff = min(options.minBackoff, maxBackoff)
        switch sourceAddresses {
        case "auto": options.sourceAddresses = nil
        case "none": options.sourceAddresses = []
        default:
            do {
                options.sourceAddresses = try SourceAddresses.parse(sourceAddresses)
            } catch {
                throw ValidationError("--source-addresses: \(error)")
            }
        }
        let simulator: FleetSimulator
        do {
            simulator = try FleetSimulator(options: options, logger: makeLogger(label: "gururmm.fleet-sim", level: logLevel))
        } catch {
            throw ValidationError("\(error)")
        }

        let needed = OpenFileLimit.needed(agents: agents)
        let files = OpenFileLimit.raise(toAtLeast: needed)
        if files.soft < needed {
            FileHandle.standardError.write(Data("""
            gururmm fleet-sim: WARNING: the open-file limit is \(files.soft) (hard limit \(files.hard)), but \(agents) agents need about \(needed): \
            agents past it fail to connect ("Too many open files"). Raise the hard limit (ulimit -Hn, LimitNOFILE=, /etc/security/limits.conf) or run fewer agents.

            """.utf8))
        }
        let addresses = simulator.sourceAddresses
        say("fleet-sim: \(agents) agents against \(endpoint)\(fork ? " (fork)" : "")\(verifySignatures ? " (verifying signatures)" : ""), state in \(stateDirectory), open-file limit \(files.soft)"
            + (addresses.isEmpty ? "" : ", from \(addresses.count) source address(es) \(addresses.first ?? "")…\(addresses.last ?? "")"))

        let json = self.json
        let interval = statusInterval
        do {
            try await runUntilSignalled {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await simulator.run() }
                    group.addTask {
                        while !Task.isCancelled {
                            try await Task.sleep(for: .milliseconds(Int(interval * 1000)))
                            Self.report(simulator.stats, json: json, summary: false)
                        }
                    }
                    // The simulator runs until cancelled; whichever ends first (an error) ends both.
                    try await group.next()
                    group.cancelAll()
                }
            }
        } catch let error as SimError {
            FileHandle.standardError.write(Data("gururmm fleet-sim: \(error)\n".utf8))
            throw ExitCode(3)
        }
        Self.report(simulator.stats, json: json, summary: true)
    }

    private static func report(_ stats: FleetStats, json: Bool, summary: Bool) {
        if json {
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.outputFormatting = [.sortedKeys]
            struct Line: Encodable {
                var kind: String
                var stats: FleetStats
            }
            if let data = try? encoder.encode(Line(kind: summary ? "summary" : "status", stats: stats)) {
                say(String(decoding: data, as: UTF8.self))
            }
            return
        }
        say("fleet-sim \(summary ? "summary" : "status") after \(Int(stats.uptimeSeconds)) s: \(stats.line)")
        if summary {
            for tally in stats.closeReasons {
                say("  close \(tally.code): \(tally.count)× (last: \(tally.lastReason))")
            }
        }
    }
}
