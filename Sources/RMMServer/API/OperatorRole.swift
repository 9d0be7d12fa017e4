/// What an operator token may do. Each role includes the ones below it.
public enum OperatorRole: String, Codable, Sendable, CaseIterable, Comparable {
    /// Read agents, commands, link health and the audit log.
    case viewer
    /// Also run and cancel commands, evict agents and diagnose links.
    case `operator`
    /// Also manage tokens, enrollment, the fleet config, and revoke agents.
    case admin

    private var rank: Int {
        switch self {
        case .viewer: return 0
        case .operator: return 1
        case .admin: return 2
        }
    }

    public static func < (lhs: OperatorRole, rhs: OperatorRole) -> Bool { lhs.rank < rhs.rank }
}
