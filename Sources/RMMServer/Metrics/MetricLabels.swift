import RMMAPI
import RMMProtocol
import RMMStore
import RMMTransport

// Every label value a metric carries comes from one of these fixed sets, never from text an agent
// or an operator sent: a scrape's size stays bounded, and nothing in it is anyone's input.

/// The `code` label of a closed agent connection: the close codes the protocol defines, `none`
/// when the connection ended without a close frame, `other` for any other number.
enum CloseCodeLabel {
    /// Every value the label can take.
    static let all: [String] = CloseCode.allCases.map { String($0.rawValue) } + ["none", "other"]

    static func value(_ code: UInt16?) -> String {
        guard let code else { return "none" }
        return CloseCode(rawValue: code).map { String($0.rawValue) } ?? "other"
    }
}

/// The `initiator` label of a closed agent connection: who closed it.
enum CloseInitiator: String, CaseIterable {
    case agent, server

    init(_ closure: LinkClosure) {
        self = closure.byPeer ? .agent : .server
    }
}

/// The `limit` label of a refused connection: which of the server's limits refused it.
enum RefusalLimit: String, CaseIterable {
    /// The agent port's unauthenticated connections from one address (HTTP 429).
    case unauthenticatedPerAddress = "unauthenticated_per_address"
    /// The agent port's unauthenticated connections from all addresses (HTTP 503).
    case unauthenticatedTotal = "unauthenticated_total"
    /// The agent port's failed authentications per address and minute (close 4009).
    case failedAuthPerAddress = "failed_auth_per_address"
    /// The API port's failed authentications per address and minute (HTTP 429).
    case apiFailedAuthPerAddress = "api_failed_auth_per_address"
}

/// The `status` label of this node's agent sessions.
enum SessionStatusLabel: String, CaseIterable {
    case online, degraded

    init?(_ status: AgentStatus) {
        switch status {
        case .online: self = .online
        case .degraded: self = .degraded
        case .offline, .revoked: return nil
        }
    }
}

extension CommandState {
    /// The terminal states: the `state` label of ended commands.
    static var terminalCases: [CommandState] { allCases.filter(\.isTerminal) }
}
