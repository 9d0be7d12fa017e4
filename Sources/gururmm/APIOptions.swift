import ArgumentParser
import Foundation

/// Options every operator subcommand shares: where the API is and which token to use.
struct APIOptions: ParsableArguments {
    @Option(name: .customLong("api"), help: "Operator API URL.")
    var api: String = ProcessInfo.processInfo.environment["GURURMM_API"] ?? "http://127.0.0.1:7080"

    @Option(name: .customLong("token"), help: "API token (default: $GURURMM_TOKEN, else DATA_DIR/admin.token).")
    var token: String?

    @Option(name: .customLong("data-dir"), help: "Server data directory, to find admin.token.")
    var dataDirectory: String = "./gururmm-data"

    /// The token to send, from the flag, the environment or the data directory, in that order.
    func resolvedToken() throws -> String {
        if let token, !token.isEmpty { return token }
        if let env = ProcessInfo.processInfo.environment["GURURMM_TOKEN"], !env.isEmpty { return env }
        let path = dataDirectory + "/admin.token"
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if !trimmed.isEmpty { return trimmed }
        }
        throw ValidationError("no API token: pass --token, set GURURMM_TOKEN, or run where \(path) is readable")
    }

    func client() throws -> APIClient {
        guard let url = URL(string: api), url.scheme == "http" || url.scheme == "https" else {
            throw ValidationError("--api must be an http(s) URL, e.g. http://127.0.0.1:7080")
        }
        return APIClient(base: url, token: try resolvedToken())
    }
}
