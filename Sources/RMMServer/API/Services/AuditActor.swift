import Foundation
import RMMStore

/// Who made an operator request, as the audit log records it: what a service needs of the
/// request's context to write its audit entries.
struct AuditActor: Sendable {
    var name: String
    var tokenId: String?
    var role: String
    var remote: String

    init(name: String, tokenId: String?, role: String, remote: String) {
        self.name = name
        self.tokenId = tokenId
        self.role = role
        self.remote = remote
    }

    init(_ context: OperatorContext) {
        self.init(name: context.operatorName ?? "unknown", tokenId: context.operatorTokenId, role: context.operatorRole?.rawValue ?? "none",
                  remote: context.remote)
    }

    /// The audit entry for an action of this operator at `now`.
    func entry(_ action: String, targets: [String], detail: String, at now: Date) -> AuditEntry {
        AuditEntry(at: now, actor: name, tokenId: tokenId, role: role, action: action, targets: targets, detail: detail, remote: remote)
    }
}
