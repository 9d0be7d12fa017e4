import Foundation
import Logging
import RMMStore

/// Writes sessions' kept samples into their agents' stored histories: each history is read,
/// the samples folded in, and all of them written back in one statement. A stored history this
/// server cannot read starts again from the samples (`StoredMetricHistory`). A node's writes run
/// one at a time, so a connection's last write and a periodic one never read the same history
/// before either writes it back.
enum MetricHistoryWrite {
    private static let oneAtATime = SerialSections()

    /// Folds each agent's `samples` into its stored history and saves them all; throws what the store throws.
    static func save(_ batch: [(agentId: String, samples: [PendingMetricSamples.Sample])], store: any MetricHistoryStore,
                     logger: Logger, now: Date) async throws {
        try await oneAtATime.run { try await readFoldWrite(batch, store: store, logger: logger, now: now) }
    }

    private static func readFoldWrite(_ batch: [(agentId: String, samples: [PendingMetricSamples.Sample])], store: any MetricHistoryStore,
                                      logger: Logger, now: Date) async throws {
        var encoded: [(agentId: String, history: Data)] = []
        encoded.reserveCapacity(batch.count)
        for (agentId, samples) in batch where !samples.isEmpty {
            var history = AgentMetricHistory()
            if case .history(let saved) = try await StoredMetricHistory.load(agentId: agentId, from: store, logger: logger) {
                history = saved
            }
            history.record(samples, now: now)
            encoded.append((agentId, MetricHistoryCodec.encode(history)))
        }
        guard !encoded.isEmpty else { return }
        try await store.saveMetricHistories(encoded, now: now)
    }
}
