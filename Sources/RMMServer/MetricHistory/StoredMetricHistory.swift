import Foundation
import Logging
import RMMStore
import Synchronization

/// An agent's metric history as the store holds it, for the session that attaches and for the
/// chart of an agent not connected here. A blob this server cannot read (truncated, another
/// version, damaged) is taken as no history, never as an error: the charts start again, and the
/// session's next save replaces the blob. Each agent's unreadable blob is logged once a process.
enum StoredMetricHistory {
    /// What the store holds for one agent.
    enum Saved: Equatable {
        case nothing
        case history(AgentMetricHistory)
        /// A blob that does not decode (logged); the agent's history is to be written afresh.
        case unreadable
    }

    /// Reads and decodes the agent's saved history; throws only what the store throws.
    static func load(agentId: String, from store: any MetricHistoryStore, logger: Logger,
                     notices: UnreadableHistoryNotices = .shared) async throws -> Saved {
        guard let data = try await store.metricHistory(agentId: agentId) else { return .nothing }
        switch MetricHistoryCodec.decode(data) {
        case .success(let history):
            return .history(history)
        case .failure(let why):
            if notices.first(agentId: agentId) {
                logger.warning("stored metric history of agent \(agentId) is unreadable (\(why)); its charts start again")
            }
            return .unreadable
        }
    }
}

/// Which agents' unreadable histories were logged already: once each, and for at most
/// `capacity` agents a process, so a damaged table cannot flood the log or grow this set.
final class UnreadableHistoryNotices: Sendable {
    static let shared = UnreadableHistoryNotices(capacity: 1000)

    private let logged = Mutex<Set<String>>([])
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
    }

    /// Whether this is the first unreadable blob seen for `agentId` (and there is room to note it).
    func first(agentId: String) -> Bool {
        logged.withLock { logged in
            guard logged.count < capacity else { return false }
            return logged.insert(agentId).inserted
        }
    }
}
