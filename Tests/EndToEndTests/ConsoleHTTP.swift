import Foundation
import RMMTestSupport

/// One raw HTTP/1.1 exchange with the console, over a plain TCP connection: redirects are not
/// followed and no cookie is kept, so a test sees exactly what a browser would be told.
struct ConsoleHTTP {
    let port: Int

    struct Response {
        var status: Int
        var headers: [(name: String, value: String)]
        var body: String

        func header(_ name: String) -> String? { headers.first { $0.name.lowercased() == name.lowercased() }?.value }

        /// The session cookie's value from `Set-Cookie`, if set to a non-empty value.
        var sessionCookie: String? {
            guard let setCookie = header("set-cookie"), setCookie.hasPrefix("gururmm_session=") else { return nil }
            let value = setCookie.dropFirst("gururmm_session=".count).prefix { $0 != ";" }
            return value.isEmpty ? nil : String(value)
        }

        /// The hidden CSRF field's value on the page.
        var csrf: String? {
            guard let range = body.range(of: "name=\"csrf\" value=\"") else { return nil }
            return String(body[range.upperBound...].prefix { $0 != "\"" })
        }
    }

    /// Sends one request and reads the whole response (the connection closes after it).
    func send(_ method: String, _ path: String, cookie: String? = nil, form: [(String, String)]? = nil, headers: [String: String] = [:]) async throws -> Response {
        let client = try await RawTCPClient.connect(host: "127.0.0.1", port: port, from: "127.0.0.1")
        var lines = ["\(method) \(path) HTTP/1.1", "Host: 127.0.0.1:\(port)", "Connection: close"]
        if let cookie { lines.append("Cookie: gururmm_session=\(cookie)") }
        for (name, value) in headers { lines.append("\(name): \(value)") }
        var body = ""
        if let form {
            body = form.map { "\(Self.encode($0.0))=\(Self.encode($0.1))" }.joined(separator: "&")
            lines.append("Content-Type: application/x-www-form-urlencoded")
        }
        if form != nil || method == "POST" { lines.append("Content-Length: \(body.utf8.count)") }
        try await client.send(lines.joined(separator: "\r\n") + "\r\n\r\n" + body)
        try await waitUntil("\(method) \(path) answered", timeout: .seconds(30)) { client.isClosed }
        return try Self.parse(client.received)
    }

    static func encode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    static func parse(_ text: String) throws -> Response {
        guard let split = text.range(of: "\r\n\r\n") else { throw E2EError("no complete response: \(text.prefix(300))") }
        let head = text[..<split.lowerBound].components(separatedBy: "\r\n")
        let statusParts = head.first?.split(separator: " ") ?? []
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { throw E2EError("bad status line: \(head.first ?? "")") }
        let headers = head.dropFirst().compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        var body = String(text[split.upperBound...])
        if headers.contains(where: { $0.0.lowercased() == "transfer-encoding" && $0.1.lowercased() == "chunked" }) { body = dechunk(body) }
        return Response(status: status, headers: headers, body: body)
    }

    /// A chunked body's data.
    static func dechunk(_ text: String) -> String {
        var bytes = Substring(text)
        var out = ""
        while let lineEnd = bytes.range(of: "\r\n"), let size = Int(bytes[..<lineEnd.lowerBound], radix: 16), size > 0 {
            let start = lineEnd.upperBound
            let utf8 = bytes.utf8
            guard let end = utf8.index(start, offsetBy: size, limitedBy: utf8.endIndex) else { break }
            out += bytes[start..<end]
            bytes = bytes[end...].dropFirst(2)
        }
        return out
    }
}
