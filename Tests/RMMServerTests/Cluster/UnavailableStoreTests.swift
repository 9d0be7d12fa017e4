import Foundation
import Hummingbird
import Logging
import NIOEmbedded
import RMMStore
import Testing

@testable import RMMServer

/// A database that is away: the operator API answers 503 with `Retry-After` and the reason.
@Suite("Unavailable store")
struct UnavailableStoreTests {
    @Test("StoreError.unavailable becomes 503 with Retry-After and the reason; other errors keep their mapping")
    func unavailableIs503() async throws {
        let context = OperatorContext(source: ApplicationRequestContextSource(channel: EmbeddedChannel(), logger: Logger(label: "test.api")))
        let request = Request(head: .init(method: .get, scheme: "http", authority: "localhost", path: "/api/v1/agents"), body: .init(buffer: .init()))
        do {
            _ = try await ErrorMappingMiddleware().handle(request, context: context) { _, _ in
                throw StoreError.unavailable("connection refused")
            }
            Issue.record("no error")
        } catch let error as HTTPError {
            #expect(error.status == .serviceUnavailable)
            #expect(error.headers[.retryAfter] == String(ErrorMappingMiddleware.unavailableRetrySeconds))
            #expect(error.body?.contains("the database is unavailable: connection refused") == true)
        }
        do {
            _ = try await ErrorMappingMiddleware().handle(request, context: context) { _, _ in throw StoreError.corrupt("x") }
            Issue.record("no error")
        } catch let error as HTTPError {
            #expect(error.status == .internalServerError)
        }
    }
}
