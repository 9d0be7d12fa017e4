import Foundation
import Logging
import RMMProtocol
import RMMStore

/// Maps agent ids to their one session. Sessions are created on first use and kept for the life of
/// the server process, so a session (its outbox and sequence state) survives reconnects.
actor SessionRegistry {
    private var sessions: [String: AgentSession] = [:]
    private let store: any SessionStore
    private let feed: ChangeFeed
    private let settings: ServerSettings
    private let logger: Logger
    private var config: AgentConfig
    let signer: WorkSigner
    /// The clock every session files itself in; nil where tests drive sessions by hand.
    private let clock: SessionClock?
    /// What failed attempts showed before authentication (see `HandshakeBook`).
    nonisolated let handshakeBook = HandshakeBook()
    /// This server's metrics: the sessions, the handshake and the command service count into it.
    nonisolated let metrics: ServerMetrics
    /// Set when the gateway starts closing sessions for a shutdown.
    private(set) var isShuttingDown = false
    /// How this node tells the other nodes what it changed (`LocalSignals` on one node).
    nonisolated let signals: any ClusterSignals
    /// Whether other nodes share the store: then an agent's session may be on another node.
    nonisolated var clustered: Bool { signals.crossesNodes }
    /// The close reason sent with 4008 `serverShutdown`.
    static let shutdownReason = "server shutting down; reconnect later"
    /// The agent URLs of the nodes a draining node sends agents to (`SessionDrain`), and whose turn it is.
    private var drainHints: [String] = []
    private var drainHintTurn = 0

    init(store: any SessionStore, feed: ChangeFeed, settings: ServerSettings, config: AgentConfig, signer: WorkSigner, logger: Logger,
         clock: SessionClock? = nil, signals: any ClusterSignals = LocalSignals(), metrics: ServerMetrics = ServerMetrics()) {
        self.signals = signals
        self.metrics = metrics
        self.signer = signer
        self.clock = clock
        self.store = store
        self.feed = feed
        self.settings = settings
        self.config = config
        self.logger = logger
    }

    /// The agent's session, created if needed.
    func session(for agentId: String) -> AgentSession {
        if let existing = sessions[agentId] { return existing }
        let session = AgentSession(agentId: agentId, store: store, feed: feed, settings: settings, config: config, signer: signer, logger: logger,
                                   clock: clock, handshakeBook: handshakeBook, clustered: signals.crossesNodes,
                                   signals: signals.crossesNodes ? signals : nil, metrics: metrics)
        sessions[agentId] = session
        return session
    }

    /// Marks the agent revoked in its session (created if needed, so a handshake in flight finds
    /// the mark when it attaches) and closes its connection with 4006.
    func revoke(agentId: String, reason: String) async {
        await session(for: agentId).revoke(reason: reason)
    }

    /// The session if one exists (the agent connected or got work since the server started).
    func existingSession(for agentId: String) -> AgentSession? { sessions[agentId] }

    /// The agent's session if its connection is on this node.
    func connectedSession(for agentId: String) -> AgentSession? {
        guard let session = sessions[agentId], session.liveEpoch.value != nil else { return nil }
        return session
    }

    /// The existing sessions of these agents, in one call however many there are.
    func existingSessions(for agentIds: [String]) -> [String: AgentSession] {
        var found: [String: AgentSession] = [:]
        for agentId in agentIds { found[agentId] = sessions[agentId] }
        return found
    }

    var allSessions: [AgentSession] { Array(sessions.values) }

    /// The server is shutting down: returns every session for the gateway to close. A handshake
    /// that attaches from now on finds `isShuttingDown` and closes its connection with 4008 itself.
    func beginShutdown() -> [AgentSession] {
        isShuttingDown = true
        return allSessions
    }

    /// A draining node's other nodes: a connection that attaches during the shutdown is sent to them in turn.
    func sendLateConnections(to agentUrls: [String]) {
        drainHints = agentUrls
    }

    /// The reason a connection that attaches during the shutdown is closed with: a close hint
    /// naming another node while this one drains, else `shutdownReason`.
    func shutdownCloseReason() -> String {
        guard !drainHints.isEmpty else { return Self.shutdownReason }
        defer { drainHintTurn += 1 }
        return CloseHint.reconnect(to: drainHints[drainHintTurn % drainHints.count]).reason
    }

    var currentConfig: AgentConfig { config }

    /// Records a new fleet config and pushes it to every session.
    func push(config newConfig: AgentConfig) async {
        config = newConfig
        for session in sessions.values { await session.push(config: newConfig) }
    }
}
