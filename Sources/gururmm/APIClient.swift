import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import RMMServer

/// A failed API call, with the server's message when it sent one.
struct APIError: Error, CustomStringConvertible {
    var status: Int
    var message: String
    var description: String { status == 0 ? message : "\(message) (HTTP \(status))" }
}

/// Talks JSON to the operator API.
struct APIClient: Sendable {
    let base: URL
    let token: String

    private struct ErrorBody: Decodable {
        struct Inner: Decodable { var message: String }
        var error: Inner
    }

    func get<T: Decodable>(_ path: String, as type: T.Type = T.self, timeout: Double = 30) async throws -> T {
        try await request("GET", path, body: Optional<Data>.none, timeout: timeout)
    }

    func post<T: Decodable, B: Encodable>(_ path: String, body: B, as type: T.Type = T.self) async throws -> T {
        try await request("POST", path, body: try APICoding.encoder().encode(body), timeout: 120)
    }

    func delete<T: Decodable>(_ path: String, as type: T.Type = T.self) async throws -> T {
        try await request("DELETE", path, body: Optional<Data>.none, timeout: 60)
    }

    func put<T: Decodable, B: Encodable>(_ path: String, body: B, as type: T.Type = T.self) async throws -> T {
        try await request("PUT", path, body: try APICoding.encoder().encode(body), timeout: 60)
    }

    private func request<T: Decodable>(_ method: String, _ path: String, body: Data?, timeout: Double) async throws -> T {
        guard let url = URL(string: path, relativeTo: base) else { throw APIError(status: 0, message: "bad API path \(path)") }
        var request = URLRequest(url: url, timeoutInterval: timeout)
        request.httpMethod = method
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        request.setValue("application/json", forHTTPHeaderField: "Accept")
        if let body {
            request.httpBody = body
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let data: Data
        let response: URLResponse
        do {
            (data, response) = try await URLSession.shared.data(for: request)
        } catch {
            throw APIError(status: 0, message: "cannot reach the GuruRMM API at \(base.absoluteString): \(error.localizedDescription). Is `gururmm server` running? (--api)")
        }
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard (200..<300).contains(status) else {
            let message = (try? JSONDecoder().decode(ErrorBody.self, from: data).error.message) ?? String(decoding: data.prefix(500), as: UTF8.self)
            throw APIError(status: status, message: message.isEmpty ? "request failed" : message)
        }
        do {
            return try APICoding.decoder().decode(T.self, from: data)
        } catch {
            throw APIError(status: status, message: "unexpected answer from the API: \(error)")
        }
    }
}
