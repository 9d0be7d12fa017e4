import Foundation
import RMMProtocol

/// The session's side of the agent's metric history: keeping each heartbeat's metrics until they
/// are written into the stored history (with the liveness flush, batched by `SessionTicker`, and
/// when the connection ends). The store holds the history; the session only what is not written yet.
extension AgentSession {
    /// Keeps a heartbeat's metrics for the next write: the only work a heartbeat adds.
    func recordMetrics(_ metrics: HostMetrics, at now: Date) {
        if pendingMetrics.add(metrics, at: now) { historySaves.recorded(now: now) }
    }

    /// The samples to write now, if a write is due (see `HistorySaveSchedule`); taken from the session.
    func takeDueMetricSamples(now: Date) -> [PendingMetricSamples.Sample]? {
        guard historySaves.take(now: now) else { return nil }
        let samples = pendingMetrics.takeAll()
        return samples.isEmpty ? nil : samples
    }

    /// Takes back samples whose write failed, to go with the next one.
    func returnMetricSamples(_ samples: [PendingMetricSamples.Sample], now: Date) {
        guard !samples.isEmpty else { return }
        pendingMetrics.putBack(samples)
        historySaves.recorded(now: now)
    }

    /// The samples not written yet, for a chart drawn on this node.
    var unsavedMetricSamples: [PendingMetricSamples.Sample] { pendingMetrics.samples }

    /// Writes what is kept, regardless of the interval (the connection ended).
    func saveHistoryAtDetach(now: Date) async {
        guard historySaves.takeFinal(now: now) else { return }
        let samples = pendingMetrics.takeAll()
        do {
            try await MetricHistoryWrite.save([(agentId, samples)], store: store, logger: logger, now: now)
        } catch {
            returnMetricSamples(samples, now: now)
            logger.warning("could not save metric history: \(error)")
        }
    }
}
