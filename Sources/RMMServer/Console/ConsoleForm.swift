import Foundation
import Hummingbird
import NIOCore

/// A submitted console form (`application/x-www-form-urlencoded`), with its CSRF check.
struct ConsoleForm: Sendable {
    let fields: [String: String]

    /// Largest form body: a script typed into the run form fits with its encoding.
    static let maxBytes = 2 << 20
    /// Largest login form, read before any authentication: a token with room to spare.
    static let loginMaxBytes = 4096

    subscript(_ name: String) -> String? { fields[name] }

    /// Parses `text` (`a=1&b=x+y`); a repeated field keeps its first value.
    init(parsing text: String) {
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ part: Substring) -> String {
                String(part).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
            }
            let name = decode(parts[0])
            if fields[name] == nil { fields[name] = parts.count > 1 ? decode(parts[1]) : "" }
        }
        self.fields = fields
    }

    /// The request's form; 413 past `limit` bytes.
    static func read(_ request: Request, limit: Int = maxBytes) async throws -> ConsoleForm {
        do {
            let buffer = try await request.body.collect(upTo: limit)
            return ConsoleForm(parsing: String(buffer: buffer))
        } catch is NIOTooManyBytesError {
            throw RequestError(413, "the form is larger than \(limit) bytes")
        }
    }

    /// The request's form, after checking its CSRF token against the session's: 403 when it is
    /// missing or wrong, before anything is done.
    static func checked(_ request: Request, _ context: OperatorContext) async throws -> ConsoleForm {
        let form = try await read(request)
        guard let session = context.consoleSession, ConsoleCSRF.matches(expected: session.csrfSecret, given: form[ConsoleCSRF.field]) else {
            throw RequestError(403, "this form's security token is missing or does not match your session (it may come from another site or an old page); reload the page and try again")
        }
        return form
    }
}
