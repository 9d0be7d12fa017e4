import Foundation

/// One operator action of the audit log, as `GET /api/v1/audit` shows it.
public struct AuditEntryView: Codable, Sendable, Equatable {
    public var id: Int64
    public var at: Date
    /// Name of the API token that acted ("agent" for an enrollment, "server" for start-up).
    public var actor: String
    /// Id of the API token that acted; for an enrollment, the enrollment token's id; nil for the
    /// server's own actions and entries from before it was recorded.
    public var tokenId: String?
    public var role: String
    /// What was done, e.g. "commands.run", "agents.revoke", "tokens.create".
    public var action: String
    /// The agents, commands or tokens it concerned.
    public var targets: [String]
    /// A short description (never secrets).
    public var detail: String
    /// Where the request came from.
    public var remote: String

    /// Every field, as the server fills it in.
    public init(id: Int64, at: Date, actor: String, tokenId: String?, role: String, action: String, targets: [String], detail: String, remote: String) {
        self.id = id
        self.at = at
        self.actor = actor
        self.tokenId = tokenId
        self.role = role
        self.action = action
        self.targets = targets
        self.detail = detail
        self.remote = remote
    }
}
