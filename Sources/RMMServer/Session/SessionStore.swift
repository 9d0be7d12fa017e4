import RMMStore

/// The store roles an agent's session uses: delivering its commands and applying its reports,
/// flushing its liveness and metric history, recording its link verdicts and diagnoses, and the guarded move to `sent`.
typealias SessionStore = DeliveryStore & LivenessStore & VerdictStore & SessionRouteStore & MetricHistoryStore
