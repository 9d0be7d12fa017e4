import Foundation
import NIOHTTP1
import RMMTransport

/// A failed API call, with the server's message when it sent one; `status` is 0 when no HTTP
/// answer came (or the answer could not be read).
public struct GuruAPIError: Error, CustomStringConvertible {
    public var status: Int
    public var message: String
    public var description: String { status == 0 ? message : "\(message) (HTTP \(status))" }

    /// An error with this status (0: no HTTP answer) and message.
    public init(status: Int, message: String) {
        self.status = status
        self.message = message
    }
}

/// Talks JSON to the operator API, over HTTPS with the server's pinned key (or plain HTTP for a
/// server run with --plain). The typed routes are in `GuruAPIClient+Routes.swift`; these generic
/// calls serve any other path.
public struct GuruAPIClient: Sendable {
    public let base: URL
    public let token: String
    /// Trust for an https:// base; nil for http://.
    public let tls: TLSTrust?

    /// A client of the API at `base` (http or https) acting with `token`.
    public init(base: URL, token: String, tls: TLSTrust?) {
        self.base = base
        self.token = token
        self.tls = tls
    }

    /// `GET path`, decoded as `T`.
    public func get<T: Decodable>(_ path: String, as type: T.Type = T.self, timeout: Double = 30) async throws -> T {
        try await request("GET", path, body: Optional<Data>.none, timeout: timeout)
    }

    /// `POST path` with `body` as JSON, the answer decoded as `T`.
    public func post<T: Decodable, B: Encodable>(_ path: String, body: B, as type: T.Type = T.self) async throws -> T {
        try await request("POST", path, body: try APICoding.encoder().encode(body), timeout: 120)
    }

    /// `DELETE path`, decoded as `T`.
    public func delete<T: Decodable>(_ path: String, as type: T.Type = T.self) async throws -> T {
        try await request("DELETE", path, body: Optional<Data>.none, timeout: 60)
    }

    /// `PUT path` with `body` as JSON, the answer decoded as `T`.
    public func put<T: Decodable, B: Encodable>(_ path: String, body: B, as type: T.Type = T.self) async throws -> T {
        try await request("PUT", path, body: try APICoding.encoder().encode(body), timeout: 60)
    }

    /// A streamed NDJSON answer: each line is decoded and handed to `line` as it arrives, so the
    /// whole answer is never held. Fails when nothing arrives for `idleTimeout` seconds.
    public func streamLines<T: Decodable>(
        _ path: String, as type: T.Type = T.self, idleTimeout: Double, fastDecode: (Data) -> T? = { _ in nil }, drained: () -> Void = {},
        _ line: (T) async throws -> Void
    ) async throws {
        guard let host = base.host, !host.isEmpty else { throw GuruAPIError(status: 0, message: "bad API URL \(base.absoluteString)") }
        let secure = base.scheme == "https"
        let headers = [("Authorization", "Bearer \(token)"), ("Accept", "application/x-ndjson"), ("User-Agent", "gururmm-cli")]
        let decoder = APICoding.decoder()
        let reply: HTTPReply
        do {
            reply = try await StreamedHTTP.lines(
                .GET, host: host, port: base.port ?? (secure ? 443 : 80), path: path, tls: secure ? (tls ?? .system) : nil,
                headers: headers, idleTimeout: .milliseconds(Int64(idleTimeout * 1000)), maxLine: Self.maxStreamLine, drained: drained
            ) { data in
                let value: T
                do {
                    value = try fastDecode(data) ?? decoder.decode(T.self, from: data)
                } catch {
                    throw GuruAPIError(status: 200, message: "unexpected line from the API: \(error)")
                }
                try await line(value)
            }
        } catch let error as GuruAPIError {
            throw error
        } catch {
            throw GuruAPIError(status: 0, message: "lost the GuruRMM API at \(base.absoluteString) during \(path): \(error)")
        }
        guard (200..<300).contains(reply.status) else { throw Self.refusal(reply) }
    }

    /// Longest NDJSON line accepted: a command with both streams at the largest output cap
    /// (8 MiB each), every byte escaped.
    public static let maxStreamLine = 128 << 20

    private static func refusal(_ reply: HTTPReply) -> GuruAPIError {
        let message = (try? JSONDecoder().decode(ErrorBody.self, from: reply.body).error.message) ?? String(decoding: reply.body.prefix(500), as: UTF8.self)
        return GuruAPIError(status: reply.status, message: message.isEmpty ? "request failed" : message)
    }

    private func request<T: Decodable>(_ method: String, _ path: String, body: Data?, timeout: Double) async throws -> T {
        guard let host = base.host, !host.isEmpty else { throw GuruAPIError(status: 0, message: "bad API URL \(base.absoluteString)") }
        let secure = base.scheme == "https"
        var headers = [("Authorization", "Bearer \(token)"), ("Accept", "application/json"), ("User-Agent", "gururmm-cli")]
        if body != nil { headers.append(("Content-Type", "application/json")) }
        let reply: HTTPReply
        do {
            reply = try await OneShotHTTP.request(
                HTTPMethod(rawValue: method), host: host, port: base.port ?? (secure ? 443 : 80), path: path,
                tls: secure ? (tls ?? .system) : nil, headers: headers, body: body, timeout: .milliseconds(Int64(timeout * 1000))
            )
        } catch {
            throw GuruAPIError(status: 0, message: "cannot reach the GuruRMM API at \(base.absoluteString): \(error). Is `gururmm server` running? (--api)")
        }
        let status = reply.status
        guard (200..<300).contains(status) else { throw Self.refusal(reply) }
        do {
            return try APICoding.decoder().decode(T.self, from: reply.body)
        } catch {
            throw GuruAPIError(status: status, message: "unexpected answer from the API: \(error)")
        }
    }
}
