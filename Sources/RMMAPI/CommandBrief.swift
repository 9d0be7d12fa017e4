import Foundation
import RMMProtocol

/// A command's state as the compact events stream (`view=compact`) writes it: what an operator's
/// console prints of it, without the fields it already knows (the batch's text, times, limits).
public struct CommandBrief: Codable, Sendable, Equatable {
    public var id: String
    public var agentId: String
    /// The agent's name when the server knows it.
    public var agent: String?
    public var state: CommandState
    public var exitCode: Int32?
    public var reason: String?

    public init(id: String, agentId: String, agent: String?, state: CommandState, exitCode: Int32?, reason: String?) {
        self.id = id
        self.agentId = agentId
        self.agent = agent
        self.state = state
        self.exitCode = exitCode
        self.reason = reason
    }

    /// The brief of a full command view: the same values for the fields both carry.
    public init(_ view: CommandView) {
        self.init(id: view.id, agentId: view.agentId, agent: view.agent, state: view.state, exitCode: view.exitCode, reason: view.reason)
    }
}

/// Which form an events stream writes its command lines in (`view` query parameter).
public enum BatchStreamView: String, Sendable, CaseIterable {
    /// `command` lines with every field of `CommandView` (the default).
    case full
    /// `brief` lines (`CommandBrief`), and output lines naming their agent.
    case compact
}
