import Foundation
import RMMProtocol

/// Why the store refused an operation, in words an operator can act on.
public enum StoreError: Error, Equatable, Sendable, CustomStringConvertible {
    case enrollmentTokenUnknown
    case enrollmentTokenExpired
    case enrollmentTokenUsedUp
    case enrollmentTokenRevoked
    case notFound(String)
    case conflict(String)
    case corrupt(String)
    /// The value given cannot be stored (an invalid agent name), and why.
    case invalid(String)
    /// Inserting would take these agents (id → non-terminal commands they have now) past `limit`.
    case tooManyPending(limit: Int, counts: [String: Int])
    /// The database cannot be reached now (a PostgreSQL restart, a cut link); nothing was changed
    /// unless the operation's own answer says otherwise, and trying again later is right.
    case unavailable(String)

    public var description: String {
        switch self {
        case .enrollmentTokenUnknown: return "enrollment token is not known to this server"
        case .enrollmentTokenExpired: return "enrollment token has expired"
        case .enrollmentTokenUsedUp: return "enrollment token has no uses left"
        case .enrollmentTokenRevoked: return "enrollment token was revoked"
        case .notFound(let what): return "\(what) not found"
        case .conflict(let why): return why
        case .corrupt(let why): return "stored data is unreadable: \(why)"
        case .invalid(let why): return why
        case .tooManyPending(let limit, let counts):
            let agents = counts.sorted { $0.key < $1.key }.map { "\($0.key) (\($0.value))" }.joined(separator: ", ")
            return "\(counts.count) agent(s) would have more than \(limit) pending commands: \(agents)"
        case .unavailable(let why): return "the database is unavailable: \(why)"
        }
    }
}
