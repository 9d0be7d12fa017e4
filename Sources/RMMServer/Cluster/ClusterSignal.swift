/// A wake-up hint one node sends the others after a commit. Never the source of truth: the node
/// that acts on one re-reads the store, and the periodic sweep covers a hint that was lost.
enum ClusterSignal: Sendable, Equatable {
    /// Commands of batch `batchId` were inserted for these agents; their sessions may be on
    /// another node. No agent ids (more than a payload can name): every node sweeps.
    case work(agentIds: [String], batchId: String)
    /// Ask the agent to cancel a command it may hold (sent, delivered or running).
    case cancel(commandId: String, agentId: String, reason: String)
    /// Close the agent's connection; it reconnects and resumes.
    case evict(agentId: String, reason: String)
    /// The agent was revoked: close it with 4006 and refuse it from now on.
    case revoke(agentId: String)
    /// The fleet config is now at `version` in the store.
    case config(version: Int)
    /// Run a link diagnosis of the agent where its connection is; the diagnosis is stored.
    case diagnose(agentId: String, requestId: String)
    /// The agent was renamed.
    case renamed(agentId: String)
    /// A connection of `epoch` took the agent's route: an older connection elsewhere is stale.
    case superseded(agentId: String, epoch: Int)
    /// Commands changed (nil: of any batch): batch long-polls re-read the store.
    case batchChanged(batchId: String?)
    /// Signals may have been lost (a reconnect to the database): re-read everything.
    case rescan
}

extension ClusterSignal {
    /// Work for one agent that a node holds no route for (its session there was superseded, or
    /// its connection there ended as the work was handed to it): the node with the agent's
    /// connection reloads the agent's work from the store. The commands may be of several
    /// batches, so the agent's id stands in the batch field (which no receiver reads).
    static func handOn(agentId: String) -> ClusterSignal {
        .work(agentIds: [agentId], batchId: agentId)
    }
}
