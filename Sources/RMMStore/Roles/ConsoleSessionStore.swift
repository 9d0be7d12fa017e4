import Foundation

/// The web console's login sessions, kept in the store so that every node accepts them and a
/// revoked operator token ends them on every node. A session is found by the SHA-256 (hex) of its
/// secret (the cookie's value); the secret itself is never stored.
public protocol ConsoleSessionStore: Sendable {
    /// Stores a new session under the SHA-256 (hex) of its secret.
    func createConsoleSession(_ session: ConsoleSessionRecord, hash: String) async throws
    /// The session with this hash, with its API token, if the session has not expired (absolute
    /// or idle) at `now` and its token is not revoked; nil otherwise.
    func consoleSession(hash: String, now: Date) async throws -> ConsoleSessionLookup?
    /// Moves a session's idle expiry to `idleExpiresAt`, never past its absolute expiry.
    func touchConsoleSession(id: String, idleExpiresAt: Date) async throws
    /// Deletes one session (logout); no error when it is already gone.
    func deleteConsoleSession(id: String) async throws
    /// Deletes every session of an API token; returns how many there were.
    @discardableResult
    func deleteConsoleSessions(tokenId: String) async throws -> Int
    /// Deletes the sessions expired at `now`; returns how many there were.
    @discardableResult
    func deleteExpiredConsoleSessions(now: Date) async throws -> Int
}

/// One console login session as stored (its secret's hash stays in the store).
public struct ConsoleSessionRecord: Sendable, Equatable {
    /// Public id (`cs_…`): names the session in logs and deletes; it does not authenticate.
    public var id: String
    /// The API token the operator logged in with: its role and revocation govern the session.
    public var tokenId: String
    /// The secret the session's forms carry as their CSRF token.
    public var csrfSecret: String
    public var createdAt: Date
    /// Absolute expiry: no activity extends it.
    public var expiresAt: Date
    /// Idle expiry: each request moves it forward, up to `expiresAt`.
    public var idleExpiresAt: Date

    public init(id: String, tokenId: String, csrfSecret: String, createdAt: Date, expiresAt: Date, idleExpiresAt: Date) {
        self.id = id
        self.tokenId = tokenId
        self.csrfSecret = csrfSecret
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.idleExpiresAt = min(idleExpiresAt, expiresAt)
    }

    /// A new session id.
    public static func newId() -> String { RecordId.random(prefix: "cs_") }
}

/// A live session and the live token behind it, read together in one statement.
public struct ConsoleSessionLookup: Sendable, Equatable {
    public var session: ConsoleSessionRecord
    public var token: APITokenRecord

    public init(session: ConsoleSessionRecord, token: APITokenRecord) {
        self.session = session
        self.token = token
    }
}
