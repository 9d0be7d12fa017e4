import Logging
import RMMProtocol
import RMMStore

/// Closes a stopping node's agent sessions as `NodeDrainMachine` decides: on a node with others
/// live beside it, in paced waves with a close hint naming one of them, then waits (up to
/// `limit`) until the store shows each agent connected again elsewhere; alone, all at once.
struct SessionDrain: Sendable {
    /// Where the other nodes are read (`liveNodes`) and the agents' epochs (`agentEpochs`); nil on
    /// a single node, which has no one to hand agents to.
    let store: (any Store)?
    /// This node's name, left out of the targets.
    let nodeName: String
    let limit: Duration
    var pacing = DrainPacing()
    let logger: Logger

    /// Closes every session of `sessions` that has a connection, and returns when the drain is over.
    func run(sessions: [AgentSession], registry: SessionRegistry) async {
        var byId: [String: AgentSession] = [:]
        var connected: [(agentId: String, epoch: Int)] = []
        for session in sessions {
            guard let epoch = session.liveEpoch.value else { continue }
            byId[session.agentId] = session
            connected.append((session.agentId, epoch))
        }
        connected.sort { $0.agentId < $1.agentId }
        let targets = connected.isEmpty ? [] : await otherNodes()
        let clock = ContinuousClock()
        var machine = NodeDrainMachine(agents: connected, targets: targets, limit: limit, pacing: pacing, now: clock.now)
        if targets.isEmpty {
            logger.info("shutting down: closing \(connected.count) agent session(s)")
        } else {
            await registry.sendLateConnections(to: targets.map(\.agentUrl))
            logger.info("draining \(connected.count) agents to nodes \(targets.map(\.name).joined(separator: ", ")) (waves of \(machine.waveSize) every \(Self.text(pacing.waveInterval)), up to \(Self.text(limit)))")
        }
        while true {
            switch machine.next(now: clock.now) {
            case .close(let wave):
                var gone: [String] = []
                for handover in wave {
                    guard let session = byId[handover.agentId], session.liveEpoch.value != nil else {
                        gone.append(handover.agentId)
                        continue
                    }
                    let reason = handover.target.map { CloseHint.reconnect(to: $0.agentUrl).reason } ?? SessionRegistry.shutdownReason
                    await session.close(.serverShutdown, reason: reason)
                }
                machine.notConnected(gone)
            case .check(let agentIds):
                do {
                    machine.observed(epochs: try await store?.agentEpochs(agentIds: agentIds) ?? [:], asked: agentIds)
                } catch {
                    logger.debug("drain: cannot read the agents' epochs yet: \(error)")
                }
            case .wait(let until):
                // Cancelled (the group's stop deadline passed): the deadline is treated as reached.
                do {
                    try await Task.sleep(until: until, clock: clock)
                } catch {
                    return
                }
            case .finished(let summary):
                log(summary)
                return
            }
        }
    }

    /// The other live nodes that take agents, by name; none if the store cannot say.
    private func otherNodes() async -> [DrainTarget] {
        guard let store else { return [] }
        do {
            return try await store.liveNodes()
                .filter { $0.name != nodeName && !$0.draining && NodeURL.problem($0.agentUrl, limit: NodeURL.maxHintBytes) == nil }
                .sorted { $0.name < $1.name }
                .map { DrainTarget(name: $0.name, agentUrl: $0.agentUrl) }
        } catch {
            logger.warning("cannot read the other nodes to drain to (\(error)); closing every agent session without a hint")
            return []
        }
    }

    private func log(_ summary: DrainSummary) {
        switch summary.ending {
        case .alone:
            break
        case .moved:
            logger.info("drain done in \(Self.text(summary.elapsed)): \(summary.moved) of \(summary.total) agents moved to other nodes, \(summary.left) left by themselves")
        case .timedOut:
            logger.warning("drain timed out after \(Self.text(summary.elapsed)): \(summary.moved) of \(summary.total) agents moved, \(summary.left) left by themselves, \(summary.remaining) not seen on another node; stopping anyway")
        }
    }

    /// A duration for the log: seconds to a tenth ("1.2 s").
    static func text(_ duration: Duration) -> String {
        "\((NodeDrainMachine.seconds(duration) * 10).rounded() / 10) s"
    }
}
