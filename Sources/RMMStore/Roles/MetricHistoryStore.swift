import Foundation

/// Each agent's metric history for the console's charts, kept as one opaque blob per agent (the
/// server encodes it; the store neither reads nor bounds its contents beyond what it is given).
public protocol MetricHistoryStore: Sendable {
    /// Saves many agents' histories in one write, each replacing the agent's previous one.
    func saveMetricHistories(_ batch: [(agentId: String, history: Data)], now: Date) async throws
    /// The agent's saved history, nil if none was saved.
    func metricHistory(agentId: String) async throws -> Data?
}
