import Foundation

/// One operator action as recorded in the append-only audit log.
public struct AuditEntry: Sendable, Equatable, Codable {
    public var id: Int64
    public var at: Date
    /// Name of the API token that acted ("agent" for an enrollment, "server" for start-up).
    public var actor: String
    /// Id of the API token that acted (names need not be unique); for an enrollment, the
    /// enrollment token's id; nil for the server's own actions and entries from before v7.
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

    public init(id: Int64 = 0, at: Date, actor: String, tokenId: String? = nil, role: String, action: String, targets: [String], detail: String, remote: String) {
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

extension AuditEntry {
    /// The targets as the JSON array text both stores keep in the `targets` column.
    func encodedTargets() throws -> String {
        String(decoding: try JSONEncoder().encode(targets), as: UTF8.self)
    }
}
