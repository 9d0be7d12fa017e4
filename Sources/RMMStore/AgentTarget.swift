/// How an operator's target (an id or a name) picks an agent, on both backends.
enum AgentTarget {
    /// The agent `target` means, from `candidates` in preference order (the agent with that id
    /// first, then those with that name in enrollment order): names are unique and never look
    /// like ids, but a database from before that rule (or edited by hand) may disagree, and a
    /// target that could mean several agents is never guessed.
    static func pick(_ target: String, from candidates: [AgentRecord]) -> Result<AgentRecord?, StoreError> {
        let distinct = candidates.reduce(into: [AgentRecord]()) { found, agent in
            if !found.contains(where: { $0.id == agent.id }) { found.append(agent) }
        }
        if distinct.count > 1 {
            return .failure(.conflict("'\(target)' matches \(distinct.count) agents: \(distinct.map(\.id).joined(separator: ", ")); use one of these ids"))
        }
        return .success(distinct.first)
    }
}
