import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import RMMAPI
import RMMProtocol
import RMMServer

/// The operator API for end-to-end tests: typed calls go through `GuruAPIClient` (the CLI's
/// client); `raw`, `send` and `call` stay for requests a test shapes itself (malformed bodies,
/// odd headers, routes without a typed method).
struct TestAPI: Sendable {
    let base: String
    let token: String

    /// The typed client for the same server and token (plain HTTP: the harness's servers run with --plain).
    var client: GuruAPIClient {
        get throws {
            guard let url = URL(string: base) else { throw Failure(status: 0, body: "bad base url \(base)") }
            return GuruAPIClient(base: url, token: token, tls: nil)
        }
    }

    struct Failure: Error, CustomStringConvertible {
        var status: Int
        var body: String
        var description: String { "HTTP \(status): \(body)" }
    }

    func raw(_ method: String, _ path: String, body: Data? = nil, token: String? = nil) async throws -> (Int, Data) {
        try await send(method, path, body: body, authorization: "Bearer \(token ?? self.token)")
    }

    /// One request with exactly this Authorization header (none when nil), never answered from a cache.
    func send(_ method: String, _ path: String, body: Data? = nil, authorization: String?, headers: [String: String] = [:]) async throws -> (Int, Data) {
        guard let url = URL(string: base + path) else { throw Failure(status: 0, body: "bad url \(path)") }
        var request = URLRequest(url: url, cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: 90)
        request.httpMethod = method
        request.setValue(authorization, forHTTPHeaderField: "Authorization")
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        if let body {
            request.httpBody = body
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, data)
    }

    func call<T: Decodable>(_ method: String, _ path: String, body: (any Encodable)? = nil, as: T.Type = T.self) async throws -> T {
        let data = try body.map { try APICoding.encoder().encode($0) }
        let (status, answer) = try await raw(method, path, body: data)
        guard (200..<300).contains(status) else { throw Failure(status: status, body: String(decoding: answer, as: UTF8.self)) }
        return try APICoding.decoder().decode(T.self, from: answer)
    }

    func agents() async throws -> [AgentView] { try await client.agents() }

    func agent(named name: String) async throws -> AgentView? { try await agents().first { $0.name == name } }

    func enrollToken(uses: Int = 10) async throws -> String {
        try await client.createEnrollmentToken(expiresSeconds: 600, uses: uses).token ?? ""
    }

    func run(_ agents: [String], _ command: String, expires: Double = 60, timeout: Double = 60) async throws -> RunResponse {
        try await client.run(RunRequest(agents: agents, all: nil, command: command, script: nil, interpreter: nil, timeoutSeconds: timeout, expiresSeconds: expires))
    }

    func runScript(_ agents: [String], _ script: String, interpreter: String? = nil) async throws -> RunResponse {
        try await client.run(RunRequest(agents: agents, all: nil, command: nil, script: script, interpreter: interpreter, timeoutSeconds: 60, expiresSeconds: 60))
    }

    func command(_ id: String) async throws -> CommandView { try await client.command(id) }

    /// Follows a batch with the long-poll feed until every command in it has ended.
    func finish(_ batch: RunResponse, timeout: Double = 60) async throws -> [CommandView] {
        let deadline = Date().addingTimeInterval(timeout)
        let client = try client
        var after = 0
        while true {
            let changes = try await client.batchChanges(batch.batchId, after: after, wait: 5)
            after = changes.version
            if changes.done { break }
            if Date() > deadline { throw Failure(status: 0, body: "batch \(batch.batchId) not done after \(timeout) s") }
        }
        var out: [CommandView] = []
        for target in batch.commands { out.append(try await client.command(target.commandId)) }
        return out
    }

    /// Short heartbeats and deadlines so liveness tests take seconds, not minutes.
    func useFastLiveness(heartbeat: Double = 1, deadline: Double = 3, ping: Double = 1) async throws {
        let client = try client
        var config = try await client.config()
        config.heartbeatInterval = heartbeat
        config.heartbeatDeadline = deadline
        config.pingInterval = ping
        config.ackDeadline = 2
        _ = try await client.putConfig(config)
    }

    /// The latest link diagnosis of an agent, if any.
    func link(_ agent: String) async throws -> LinkDiagnosis? { try await client.link(agent) }
}
