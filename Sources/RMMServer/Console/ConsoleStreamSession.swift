import Foundation
import Hummingbird
import RMMStore

/// The console session a live stream was opened under, asked again before each read: a stream
/// outlives the request that checked its cookie, and a session ended by logout, expiry or its
/// token's revocation (on any node: sessions live in the store) must stop streaming too.
struct ConsoleStreamSession: Sendable {
    private let hash: String

    init(_ request: Request) {
        hash = CommandService.sha256Hex(request.cookies[ConsoleCookie.name]?.value ?? "")
    }

    /// Whether the session is still live (one indexed read).
    func isLive(_ store: any ConsoleSessionStore, now: Date) async throws -> Bool {
        try await store.consoleSession(hash: hash, now: now) != nil
    }

    /// The event that tells the page its session ended; the page reloads, which leads to the login.
    static let endedEvent = "event: ended\ndata: your console session has ended\n\n"
}
