import ArgumentParser
import RMMTransport

/// How an agent (or the fleet simulator) reaches the server: its URL, the enrollment token, and
/// whether plain ws:// is accepted.
struct ServerConnectionOptions: ParsableArguments {
    @Option(name: .customLong("server"), help: "Server agent URL, e.g. wss://rmm.example.com:7443")
    var server: String

    @Option(name: .customLong("enroll-token"), help: "Enrollment token (needed until enrolled; one use per agent).")
    var enrollToken: String?

    @Flag(name: .customLong("allow-plain"), help: "Accept a ws:// server run with --plain (local use only).")
    var allowPlain = false

    /// `--server`, parsed.
    func endpoint() throws -> ServerEndpoint {
        do {
            return try ServerEndpoint(parsing: server)
        } catch {
            throw ValidationError("--server: \(error)")
        }
    }
}
