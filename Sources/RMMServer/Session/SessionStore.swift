import RMMStore

/// The store roles an agent's session uses: delivering its commands and applying its reports,
/// flushing its liveness, and recording its link verdicts and diagnoses.
typealias SessionStore = DeliveryStore & LivenessStore & VerdictStore
