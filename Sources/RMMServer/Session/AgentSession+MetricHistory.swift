import Foundation
import RMMProtocol

/// The session's side of the agent's metric history: folding in each heartbeat's metrics, reading
/// the saved history when a connection attaches, and writing it when the connection ends (the
/// periodic writes go with the liveness flush, batched by `SessionTicker`).
extension AgentSession {
    /// Folds a heartbeat's metrics into the history: the only work a heartbeat adds.
    func recordMetrics(_ metrics: HostMetrics, at now: Date) {
        if metricHistory.record(metrics, now: now) { historySaves.recorded(now: now) }
    }

    /// Reads the saved history once per session (every connection on a cluster, where another
    /// node may have written it since) and fills in what memory lacks: points recorded here and
    /// not yet saved are kept. A store that cannot answer leaves memory as it is, to be read at
    /// the next attach; an unreadable blob is replaced at the next save.
    func loadHistoryIfNeeded(now: Date) async {
        guard !historyLoaded else { return }
        historyLoaded = true
        do {
            switch try await StoredMetricHistory.load(agentId: agentId, from: store, logger: logger) {
            case .nothing: break
            case .history(let saved): metricHistory = metricHistory.filled(from: saved)
            case .unreadable: historySaves.recorded(now: now)
            }
        } catch {
            historyLoaded = false
            logger.warning("could not read metric history: \(error)")
        }
    }

    /// Writes the history on its own if it changed since the last write (a detach).
    func saveHistoryAtDetach(now: Date) async {
        guard historySaves.takeFinal(now: now) else { return }
        do {
            try await store.saveMetricHistories([(agentId, MetricHistoryCodec.encode(metricHistory))], now: now)
        } catch {
            historySaves.recorded(now: now)
            logger.warning("could not save metric history: \(error)")
        }
    }
}
