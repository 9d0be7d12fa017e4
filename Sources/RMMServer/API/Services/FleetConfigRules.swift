import RMMProtocol

/// Whether a new fleet config may replace the current one, and the version it is saved from.
/// Pure: the messages are the API's answers to `PUT /config`.
enum FleetConfigRules {
    /// The config to save: `proposed` with its version set from `current` and `minimumVersion`
    /// (the store then saves it one above). Throws 400 for a version no config can have or a
    /// config agents would refuse, 409 when the version is at its maximum.
    static func next(_ proposed: AgentConfig, current: AgentConfig, minimumVersion: Int) throws -> AgentConfig {
        try requireVersion(proposed)
        var config = proposed
        // After restoring an older database agents refuse its configs as older than the one
        // they applied: `min_version` moves the saved version past theirs.
        config.version = max(current.version, minimumVersion - 1)
        guard config.version < WireRange.maxCount else {
            throw RequestError(409, "the config version is at its maximum (\(WireRange.maxCount))")
        }
        let problems = config.problems()
        guard problems.isEmpty else { throw RequestError(400, "config rejected: " + problems.joined(separator: "; ")) }
        return config
    }

    /// Throws 400 unless the version sent is one a config can have (it is replaced, but checked
    /// first, before the request's other parameters).
    static func requireVersion(_ proposed: AgentConfig) throws {
        guard (1...WireRange.maxCount).contains(proposed.version) else {
            throw RequestError(400, "version must be 1...\(WireRange.maxCount) (it is then replaced by the next version)")
        }
    }
}
