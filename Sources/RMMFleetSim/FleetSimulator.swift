import Foundation
import Logging
import RMMAgent
import RMMProtocol
import RMMTransport

/// Runs `count` simulated agents in this process against one server, on real sockets with the
/// real protocol: each agent is a small state and one task; they share the NIO event loops, one
/// timer, one connect gate and one identity file. Read `stats` at any time.
public final class FleetSimulator: Sendable {
    public let options: FleetSimOptions
    private let counters: FleetCounters
    private let logger: Logger
    private let started = ContinuousClock.now

    /// Checks the options; nothing is read, written or connected before `run()`.
    public init(options: FleetSimOptions, logger: Logger) throws {
        let problems = options.problems()
        guard problems.isEmpty else { throw SimError.badOption(problems.joined(separator: "; ")) }
        self.options = options
        self.counters = FleetCounters(agents: options.count)
        self.logger = logger
    }

    /// A snapshot of the fleet's gauges and counters; cheap, from any thread.
    public var stats: FleetStats {
        var stats = counters.snapshot()
        stats.uptimeSeconds = (ContinuousClock.now - started) / .seconds(1)
        return stats
    }

    /// The source addresses in use: `options.sourceAddresses`, or the automatic choice.
    public var sourceAddresses: [String] {
        options.sourceAddresses ?? SourceAddresses.automatic(for: options.endpoint, count: options.count)
    }

    /// Loads or creates the identities, then connects every agent and keeps them connected until
    /// cancelled; then closes their connections (1001, as agents shutting down) and saves the file.
    public func run() async throws {
        let options = self.options
        let store = try await OffPool.run {
            try SimIdentityStore.open(directory: options.stateDirectory, count: options.count, namePrefix: options.namePrefix)
        }
        let tls: TLSTrust?
        do {
            tls = try AgentRuntime.serverTrust(endpoint: options.endpoint, allowPlain: options.allowPlain,
                                               pinned: store.pinned.tlsTrust, enrollToken: options.enrollToken)
        } catch let error as AgentError {
            throw SimError.badOption(error.description)
        }
        let records = store.records(options.count)
        if options.enrollToken == nil, let missing = records.first(where: { $0.agentId == nil }) {
            throw SimError.badOption("\(records.filter { $0.agentId == nil }.count) agents (first \(missing.name)) are not enrolled yet: pass --enroll-token")
        }
        let addresses = sourceAddresses
        // A gate per source address that agents share (one for all when the OS picks the address);
        // none where each agent has an address of its own.
        let shared = addresses.count < records.count
        let addressGates = shared ? (addresses.isEmpty ? [""] : addresses).map { _ in ConnectGate(slots: options.connectsPerAddress) } : []
        let agents = try records.enumerated().map { index, record in
            try SimAgent(index: index, record: record, sourceAddress: addresses.isEmpty ? nil : addresses[index % addresses.count],
                         addressGate: shared ? addressGates[index % addressGates.count] : nil)
        }
        let fork = options.fork ? ForkRunner(concurrency: options.forkConcurrency) : nil
        let fleet = SimFleet(options: options, counters: counters, store: store, tls: tls, fork: fork, logger: logger)
        logger.info("fleet-sim: \(agents.count) agents against \(options.endpoint)\(addresses.isEmpty ? "" : " from \(addresses.first ?? "")…\(addresses.last ?? "") (\(addresses.count) addresses)")")

        let forkEvents = fork.map { runner in Task { await runner.run(fleet: fleet) } }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await SimTicker(agents: agents, fleet: fleet, metricsSource: currentHostMetricsSource()).run() }
            group.addTask { await Self.persist(store, logger: self.logger) }
            for agent in agents {
                group.addTask { await agent.run(fleet: fleet) }
            }
            await group.waitForAll()
        }
        // Every agent closed its connection; give the close frames a moment to leave.
        let deadline = ContinuousClock.now.advanced(by: .seconds(2))
        while ContinuousClock.now < deadline, agents.contains(where: { $0.hasOpenConnection }) {
            try? await Task.sleep(for: .milliseconds(50))
        }
        await fork?.shutdown()
        forkEvents?.cancel()
        try await OffPool.run { try store.flush() }
    }

    /// Saves newly enrolled agents every two seconds (one file for the fleet, written atomically).
    private static func persist(_ store: SimIdentityStore, logger: Logger) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(2))
            do {
                try await OffPool.run { try store.flush() }
            } catch {
                logger.error("could not save \(store.path): \(error)")
            }
        }
    }
}
