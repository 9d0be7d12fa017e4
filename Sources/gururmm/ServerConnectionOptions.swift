import ArgumentParser
import RMMTransport

/// How an agent (or the fleet simulator) reaches the server: its URLs (one per cluster node, tried
/// in turn), the enrollment token, and whether plain ws:// is accepted.
struct ServerConnectionOptions: ParsableArguments {
    @Option(name: .customLong("server"), help: ArgumentHelp(
        "Server agent URL, e.g. wss://rmm.example.com:7443. Repeat it for the nodes of a cluster: the agent uses one at a time and moves to the next when one fails (and learns the others from the server).",
        valueName: "url"
    ))
    var servers: [String] = []

    @Option(name: .customLong("enroll-token"), help: "Enrollment token (needed until enrolled; one use per agent).")
    var enrollToken: String?

    @Flag(name: .customLong("allow-plain"), help: "Accept a ws:// server run with --plain (local use only).")
    var allowPlain = false

    func validate() throws {
        guard !servers.isEmpty else { throw ValidationError("Missing expected argument '--server <url>'") }
    }

    /// Every `--server`, parsed, in order (at least one).
    func endpoints() throws -> (first: ServerEndpoint, others: [ServerEndpoint]) {
        var parsed: [ServerEndpoint] = []
        for server in servers {
            do {
                parsed.append(try ServerEndpoint(parsing: server))
            } catch {
                throw ValidationError("--server: \(error)")
            }
        }
        guard let first = parsed.first else { throw ValidationError("Missing expected argument '--server <url>'") }
        return (first, Array(parsed.dropFirst()))
    }
}
