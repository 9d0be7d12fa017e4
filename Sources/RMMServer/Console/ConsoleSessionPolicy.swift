import Foundation
import RMMStore

/// How long console sessions live and when a request moves a session's idle expiry: pure rules,
/// `now` passed in, so they are tested without a server.
struct ConsoleSessionPolicy: Sendable, Equatable {
    /// Absolute lifetime: no activity extends a session past it.
    var lifetime: TimeInterval = 12 * 3600
    /// A session unused this long ends.
    var idle: TimeInterval = 30 * 60
    /// A request moves the idle expiry only when the last move is at least this old, so a busy
    /// console writes the store about once a minute, not once a request.
    var touchInterval: TimeInterval = 60

    /// A new session for `tokenId` created at `now`, with the secret that becomes its CSRF token.
    func newSession(tokenId: String, csrfSecret: String, now: Date) -> ConsoleSessionRecord {
        ConsoleSessionRecord(
            id: ConsoleSessionRecord.newId(), tokenId: tokenId, csrfSecret: csrfSecret, createdAt: now,
            expiresAt: now.addingTimeInterval(lifetime), idleExpiresAt: now.addingTimeInterval(idle)
        )
    }

    /// The new idle expiry if a request at `now` should move it; nil when a move was recent or
    /// the session already idles out at its absolute expiry.
    func touch(_ session: ConsoleSessionRecord, now: Date) -> Date? {
        let wanted = min(now.addingTimeInterval(idle), session.expiresAt)
        return wanted.timeIntervalSince(session.idleExpiresAt) >= touchInterval ? wanted : nil
    }

    /// The cookie's `Max-Age`: what is left of the absolute lifetime, in whole seconds.
    func maxAge(_ session: ConsoleSessionRecord, now: Date) -> Int {
        max(0, Int(session.expiresAt.timeIntervalSince(now).rounded(.down)))
    }
}

/// The session cookie's `Set-Cookie` values.
enum ConsoleCookie {
    /// The cookie's name; `__Host-` is not used because a plain-http loopback console must work too.
    static let name = "gururmm_session"

    /// Sets the session cookie: never readable by scripts, never sent cross-site, `Secure` when the
    /// browser reached the server over https.
    static func set(_ secret: String, maxAge: Int, secure: Bool) -> String {
        "\(name)=\(secret); Path=/; Max-Age=\(maxAge); HttpOnly; SameSite=Strict" + (secure ? "; Secure" : "")
    }

    /// Removes the cookie (logout).
    static func clear(secure: Bool) -> String {
        set("", maxAge: 0, secure: secure)
    }
}
