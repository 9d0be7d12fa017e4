/// What a node does with a signal from another node, given what it holds of the agent: the
/// node with the agent's live connection acts; the others do nothing (they hold no route).
enum RelayDecision {
    /// What this node holds of the signal's agent.
    struct Local: Equatable, Sendable {
        /// The epoch of this node's live connection of the agent (nil: none here).
        var connectedEpoch: Int?
        static let none = Local(connectedEpoch: nil)
    }

    /// What the relay performs.
    enum Action: Equatable, Sendable {
        /// The agent's session reloads its undelivered commands from the store and sends them.
        case reload(agentId: String)
        /// Every connected session here compares its outbox with the store (`ClusterSweep`).
        case sweepAll
        case sendCancel(agentId: String, commandId: String, reason: String)
        case evict(agentId: String, reason: String)
        /// Marks the agent revoked here, connected or not (a handshake in flight must not attach).
        case revoke(agentId: String)
        /// Reads the fleet config from the store and pushes it if it is newer than this node's.
        case loadConfig
        case diagnose(agentId: String)
        /// Closes this node's connection of the agent: a newer epoch holds its route elsewhere.
        case closeSuperseded(agentId: String, epoch: Int)
        /// Wakes this node's long-polls.
        case wakeLongPolls
    }

    /// The actions for `signal`; `local` is what this node holds of the agent it names.
    static func actions(for signal: ClusterSignal, local: Local, configVersion: Int) -> [Action] {
        let connected = local.connectedEpoch != nil
        switch signal {
        case .work(let agentIds, _):
            // Per agent: the caller asks `local` for each (see `ClusterRelay`); none named: all.
            if agentIds.isEmpty { return [.sweepAll] }
            return connected ? agentIds.map { .reload(agentId: $0) } : []
        case .cancel(let commandId, let agentId, let reason):
            return connected ? [.sendCancel(agentId: agentId, commandId: commandId, reason: reason), .wakeLongPolls] : []
        case .evict(let agentId, let reason):
            return connected ? [.evict(agentId: agentId, reason: reason)] : []
        case .revoke(let agentId):
            return [.revoke(agentId: agentId), .wakeLongPolls]
        case .config(let version):
            return version > configVersion ? [.loadConfig] : []
        case .diagnose(let agentId, _):
            return connected ? [.diagnose(agentId: agentId)] : []
        case .renamed:
            return [.wakeLongPolls]
        case .superseded(let agentId, let epoch):
            guard let mine = local.connectedEpoch, mine < epoch else { return [] }
            return [.closeSuperseded(agentId: agentId, epoch: epoch)]
        case .batchChanged:
            return [.wakeLongPolls]
        case .rescan:
            return [.sweepAll, .loadConfig, .wakeLongPolls]
        }
    }

    /// The agent a signal is about, when it names exactly one.
    static func agent(of signal: ClusterSignal) -> String? {
        switch signal {
        case .cancel(_, let agentId, _), .evict(let agentId, _), .revoke(let agentId), .diagnose(let agentId, _),
             .renamed(let agentId), .superseded(let agentId, _):
            return agentId
        case .work, .config, .batchChanged, .rescan:
            return nil
        }
    }
}
