import Foundation
import RMMAPI
import RMMProtocol
import Testing

/// The typed client against a canned HTTP server: what it sends for a route, how it reads the
/// answer and an error, and how it follows a batch's streamed lines to the end.
@Suite("GuruAPIClient")
struct GuruAPIClientTests {
    static func client(_ server: CannedHTTPServer) throws -> GuruAPIClient {
        let url = try #require(URL(string: "http://127.0.0.1:\(server.port)"))
        return GuruAPIClient(base: url, token: "secret-token", tls: nil)
    }

    @Test("a typed POST sends its route, token and snake_case body, and decodes the answer")
    func typedPost() async throws {
        let server = try await CannedHTTPServer.start { _ in
            .init(status: 200, body: #"{"ok":true,"message":"revoked"}"#)
        }
        defer { Task { await server.stop() } }
        let answer = try await Self.client(server).revokeAgent("web 1/a", reason: "gone")
        #expect(answer.ok && answer.message == "revoked")
        let request = try #require(server.requests.first)
        #expect(request.method == "POST")
        // The agent name is one escaped path segment: a slash in it cannot reach another route.
        #expect(request.uri == "/api/v1/agents/web%201%2Fa/revoke")
        #expect(request.authorization == "Bearer secret-token")
        #expect(String(decoding: request.body, as: UTF8.self) == #"{"reason":"gone"}"#)
    }

    @Test("a refusal becomes GuruAPIError with the status and the server's message")
    func refusal() async throws {
        let server = try await CannedHTTPServer.start { _ in
            .init(status: 404, body: #"{"error":{"message":"no agent named ghost"}}"#)
        }
        defer { Task { await server.stop() } }
        let client = try Self.client(server)
        let error = try await #require(throws: GuruAPIError.self) { try await client.agent("ghost") }
        #expect(error.status == 404 && error.message == "no agent named ghost")
        // The one route where 404 is an answer, not a failure.
        #expect(try await client.link("ghost") == nil)
    }

    @Test("following a batch reads the streamed lines until an end line says done")
    func followBatch() async throws {
        let command = CommandView(
            id: "c_1", agentId: "a_1", agent: "web1", batchId: "b_1", kind: .shell, text: "true", interpreter: nil, state: .succeeded,
            terminal: true, reason: nil, exitCode: 0, signal: nil, createdAt: Date(timeIntervalSince1970: 1_800_000_000),
            updatedAt: Date(timeIntervalSince1970: 1_800_000_001), expiresAt: Date(timeIntervalSince1970: 1_800_000_060),
            timeoutSeconds: 30, createdBy: "admin", stdoutTruncated: false, stderrTruncated: false, stdout: nil, stderr: nil
        )
        let encoder = APICoding.encoder()
        func line(_ value: BatchStreamLine) throws -> String { String(decoding: try encoder.encode(value), as: UTF8.self) + "\n" }
        let first = try line(BatchStreamLine(output: OutputView(commandId: "c_1", stream: .stdout, offset: 0, data: Data("hi\n".utf8))))
            + line(BatchStreamLine(end: BatchStreamEnd(version: 7, done: false, commands: 0)))
        let second = try line(BatchStreamLine(command: command)) + line(BatchStreamLine(end: BatchStreamEnd(version: 9, done: true, commands: 1)))
        let server = try await CannedHTTPServer.start { request in
            .init(status: 200, body: request.uri.contains("after=0&") ? first : second, contentType: "application/x-ndjson")
        }
        defer { Task { await server.stop() } }
        var output: [String] = []
        let finals = try await Self.client(server).batch("b_1").follow(output: true) { output.append(String(decoding: $0.data, as: UTF8.self)) }
        #expect(output == ["hi\n"])
        #expect(finals["c_1"]?.state == .succeeded)
        // The second request resumes after the first answer's end version.
        #expect(server.requests.map(\.uri) == [
            "/api/v1/batches/b_1/events?after=0&wait=25&output=true&terminal=true&view=compact",
            "/api/v1/batches/b_1/events?after=7&wait=25&output=true&terminal=true&view=compact",
        ])
    }

    @Test("a stream cut before its end line is an error, not a finished batch")
    func cutStream() async throws {
        let server = try await CannedHTTPServer.start { _ in
            .init(status: 200, body: "", contentType: "application/x-ndjson")
        }
        defer { Task { await server.stop() } }
        let follower = try Self.client(server).batch("b_1")
        await #expect(throws: GuruAPIError.self) { try await follower.results { _ in } }
    }
}
