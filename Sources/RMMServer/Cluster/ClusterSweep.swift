/// The periodic comparison that bounds what a lost signal can delay: the store's undelivered
/// commands of the agents connected here against what their sessions hold.
enum ClusterSweep {
    /// The agents (of `held`'s keys: those connected here) whose stored undelivered commands are
    /// not all in their session's stream, sorted: their sessions reload from the store.
    static func behind(stored: [String: Set<String>], held: [String: Set<String>]) -> [String] {
        held.compactMap { agentId, inStream in
            guard let wanted = stored[agentId], !wanted.isSubset(of: inStream) else { return nil }
            return agentId
        }.sorted()
    }
}
