import ArgumentParser
import Foundation
import RMMAPI
import RMMTransport

/// Options every operator subcommand shares: where the API is and which token to use.
struct APIOptions: ParsableArguments {
    @Option(name: .customLong("api"), help: "Operator API URL (default: $GURURMM_API, else the one in DATA_DIR/server.json, else https://127.0.0.1:7080).")
    var api: String?

    @Option(name: .customLong("api-pin"), help: "Pin of the API's TLS key, or 'system' (default: $GURURMM_API_PIN, else DATA_DIR/server.json's, else system CAs).")
    var apiPin: String?

    @Option(name: .customLong("token"), help: "API token (default: $GURURMM_TOKEN, else DATA_DIR/admin.token).")
    var token: String?

    @Option(name: .customLong("data-dir"), help: "Server data directory, to find admin.token.")
    var dataDirectory: String = "./gururmm-data"

    @Flag(name: .customLong("allow-plain-http"),
          help: "Send the API token over plain http:// to a host that is not loopback (default: $GURURMM_ALLOW_PLAIN_HTTP=1; refused otherwise: anyone on the path could read the token).")
    var allowPlainHTTP = false

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

    func client() throws -> GuruAPIClient {
        let environment = ProcessInfo.processInfo.environment
        let ready = readyFile()
        let text = api ?? environment["GURURMM_API"] ?? ready?.apiUrl ?? "https://127.0.0.1:7080"
        guard let url = URL(string: text), url.scheme == "http" || url.scheme == "https", url.host != nil else {
            throw ValidationError("--api must be an http(s) URL, e.g. https://127.0.0.1:7080 (got '\(text)')")
        }
        if let refusal = Self.plainHTTPRefusal(url: url, allowed: allowPlainHTTP || environment["GURURMM_ALLOW_PLAIN_HTTP"] == "1") {
            throw ValidationError(refusal)
        }
        var trust: TLSTrust?
        // The data directory's pin belongs to the server that wrote it, not to any --api.
        let localPin = ready.flatMap { $0.apiUrl == text ? $0.tlsPin : nil }
        if let pin = apiPin ?? environment["GURURMM_API_PIN"] ?? localPin {
            do {
                trust = try TLSTrust(parsing: pin)
            } catch {
                throw ValidationError("--api-pin: \(error)")
            }
        }
        return GuruAPIClient(base: url, token: try resolvedToken(), tls: trust)
    }

    /// Why the CLI will not send its token to `url`, or nil: a bearer token over plain HTTP to
    /// another machine can be read (and reused) by anyone on the path, so that needs the flag.
    static func plainHTTPRefusal(url: URL, allowed: Bool) -> String? {
        guard url.scheme == "http", let host = url.host, !LoopbackHost.contains(host), !allowed else { return nil }
        return "refusing to send the API token over plain http:// to \(host), which is not this machine: anyone on the network path could read it. "
            + "Use https:// (the server's default), or pass --allow-plain-http (or set GURURMM_ALLOW_PLAIN_HTTP=1) if the network is trusted."
    }

    /// What the server in the data directory wrote about itself, if it is here.
    private func readyFile() -> ServerReady? {
        guard let data = FileManager.default.contents(atPath: dataDirectory + "/server.json") else { return nil }
        return try? APICoding.decoder().decode(ServerReady.self, from: data)
    }
}
