import Foundation
import Logging
import RMMProtocol
import RMMStore

/// Applies the other nodes' signals to this node's sessions (`RelayDecision` decides), and sweeps
/// every `clusterSweepInterval` for work a lost signal left behind. Thin: it looks up sessions
/// and performs actions; it holds no state of its own.
actor ClusterRelay {
    private let registry: SessionRegistry
    private let store: any SessionRouteStore & SettingsStore & AgentStore & CancelRequestStore
    private let feed: ChangeFeed
    private let logger: Logger

    init(registry: SessionRegistry, store: any SessionRouteStore & SettingsStore & AgentStore & CancelRequestStore, feed: ChangeFeed, logger: Logger) {
        self.registry = registry
        self.store = store
        self.feed = feed
        self.logger = logger
    }

    /// Applies incoming signals until the task is cancelled; with signals that cross nodes, also
    /// sweeps every `sweepInterval` seconds.
    func run(signals: any ClusterSignals, sweepInterval: Double) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await signal in signals.incoming() { await self.apply(signal) }
            }
            if signals.crossesNodes {
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .milliseconds(Int(sweepInterval * 1000)))
                        if Task.isCancelled { break }
                        await self.sweep()
                    }
                }
            }
            await group.next()
            group.cancelAll()
        }
    }

    /// Performs what `RelayDecision` says for `signal` on this node.
    func apply(_ signal: ClusterSignal) async {
        let configVersion = await registry.currentConfig.version
        if case .work(let agentIds, let batchId) = signal, !agentIds.isEmpty {
            let sessions = await registry.existingSessions(for: agentIds)
            for (agentId, session) in sessions {
                let local = RelayDecision.Local(connectedEpoch: session.liveEpoch.value)
                for action in RelayDecision.actions(for: .work(agentIds: [agentId], batchId: batchId), local: local, configVersion: configVersion) {
                    await perform(action)
                }
            }
            return
        }
        var local = RelayDecision.Local.none
        if let agentId = RelayDecision.agent(of: signal), let session = await registry.existingSession(for: agentId) {
            local.connectedEpoch = session.liveEpoch.value
        }
        for action in RelayDecision.actions(for: signal, local: local, configVersion: configVersion) {
            await perform(action)
        }
    }

    private func perform(_ action: RelayDecision.Action) async {
        switch action {
        case .reload(let agentId):
            await registry.existingSession(for: agentId)?.reloadUndelivered()
        case .sweepAll:
            await sweep()
        case .sendCancel(let agentId, let commandId, _):
            // Any role that can connect can NOTIFY: a cancel is sent only when the store holds its
            // request (the cancelling node stored it before signalling), with the stored reason.
            do {
                guard let reason = try await store.requestedCancels(agentIds: [agentId])[agentId]?[commandId] else {
                    logger.warning("a cancel signal named a command with no cancel request stored; ignored")
                    return
                }
                await registry.existingSession(for: agentId)?.sendCancel(commandId: commandId, reason: reason)
            } catch {
                // The sweep sends it once the store answers.
                logger.warning("could not check a cancel signal against the store: \(error)")
            }
        case .evict(let agentId, let reason):
            _ = await registry.existingSession(for: agentId)?.evict(reason: reason)
        case .revoke(let agentId):
            // Any role that can connect to the database can NOTIFY: a revoke is carried out only
            // when the store says the agent is revoked (the revoking node stored it first).
            guard let stored = await storedAgent(agentId), stored.revokedAt != nil else {
                logger.warning("a revoke signal named an agent the store does not show revoked; ignored")
                return
            }
            await registry.revoke(agentId: agentId, reason: "agent revoked by an operator")
        case .loadConfig:
            do {
                let stored = try await store.config()
                if stored.version > (await registry.currentConfig.version) { await registry.push(config: stored) }
            } catch {
                logger.warning("could not read the fleet config another node changed: \(error)")
            }
        case .diagnose(let agentId):
            guard let session = await registry.existingSession(for: agentId) else { return }
            // Runs here, where the connection is; the diagnosis is stored, where the asking node reads it.
            Task { _ = await LinkDiagnoser(session: session).run(trigger: "operator on another node") }
        case .closeSuperseded(let agentId, let epoch):
            // Checked the same way: only a newer connection the store recorded supersedes one here.
            guard let session = await registry.existingSession(for: agentId),
                  let stored = await storedAgent(agentId), stored.epoch >= epoch else { return }
            await session.supersede(by: stored.epoch, now: Date())
        case .wakeLongPolls:
            feed.bumpFromElsewhere()
        }
    }

    /// The agent as stored, or nil (unknown, or the store unreachable: then nothing is done).
    private func storedAgent(_ agentId: String) async -> AgentRecord? {
        do {
            return try await store.agent(id: agentId)
        } catch {
            logger.warning("could not check a signal against the store: \(error)")
            return nil
        }
    }

    /// Compares the outboxes of the sessions connected here with the store's undelivered
    /// commands of their agents (one query), and has those behind reload; sends the cancels
    /// stored for their commands that they have not sent (one query).
    func sweep() async {
        var held: [String: Set<String>] = [:]
        for session in await registry.allSessions where session.liveEpoch.value != nil {
            held[session.agentId] = await session.heldCommandIds()
        }
        guard !held.isEmpty else { return }
        do {
            let stored = try await store.undeliveredCommandIds(agentIds: Array(held.keys))
            for agentId in ClusterSweep.behind(stored: stored, held: held) {
                await registry.existingSession(for: agentId)?.reloadUndelivered()
            }
        } catch {
            logger.warning("cluster sweep could not read undelivered commands: \(error)")
        }
        // A cancel of a command an agent here holds, asked on another node.
        do {
            for (agentId, requested) in try await store.requestedCancels(agentIds: Array(held.keys)).sorted(by: { $0.key < $1.key }) {
                await registry.existingSession(for: agentId)?.sendRequestedCancels(requested)
            }
        } catch {
            logger.warning("cluster sweep could not read requested cancels: \(error)")
        }
        // What else a lost signal would leave undone: a revoke, a newer config.
        do {
            let live = Set(try await store.liveAgentNames().map(\.id))
            for agentId in held.keys where !live.contains(agentId) {
                await perform(.revoke(agentId: agentId))
            }
            await perform(.loadConfig)
        } catch {
            logger.warning("cluster sweep could not read revoked agents: \(error)")
        }
    }
}
