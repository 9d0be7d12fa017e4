/// The append-only log of operator actions. An action that changes stored state stores its entry
/// through its own role's method (in the action's transaction); this role appends the entries of
/// actions that change nothing stored, and reads the log.
public protocol AuditStore: Sendable {
    /// Appends one operator action to the audit log (append-only: nothing can change or delete it).
    func appendAudit(_ entry: AuditEntry) async throws
    /// The newest entries first.
    func auditLog(limit: Int) async throws -> [AuditEntry]
}
