import ArgumentParser
import Foundation
import RMMAgent
import RMMProtocol
import RMMTransport

/// `gururmm agent`: enrolls once, then keeps a session with the server forever.
struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "agent", abstract: "Run a GuruRMM agent.")

    @OptionGroup var connection: ServerConnectionOptions

    @Option(name: .customLong("state-dir"), help: "Where the agent keeps its identity and journal.")
    var stateDirectory: String

    @Option(name: .customLong("enroll-token-file"), help: "A file (mode 0600) whose first line is the enrollment token, instead of --enroll-token, which other users of this machine can read in the process list. Read only while the agent is not enrolled: it may be deleted once it is.")
    var enrollTokenFile: String?

    @Option(name: .customLong("name"), help: "Name shown to operators (default: hostname).")
    var name: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error.")
    var logLevel: String = "info"

    @Option(name: .customLong("downlink"), help: "How the server sends data: auto (text frames, falling back by itself), binary, or poll (long-poll HTTP) for a site known to filter WebSocket data frames.")
    var downlink: String = "auto"

    @Option(name: .customLong("max-backoff"), help: "Longest pause between reconnect attempts, seconds (full jitter from 0.5 s, doubling).")
    var maxBackoff: Double = 30

    @Option(name: .customLong("handshake-timeout"), help: "Seconds to wait for the server's challenge and welcome before reconnecting.")
    var handshakeTimeout: Double = 15

    @Option(name: .customLong("watchdog-seconds"), help: "Seconds the message consumer may sit on waiting messages before the watchdog rebuilds the session.")
    var watchdogSeconds: Double = 10

    @Option(name: .customLong("retry-text-after"), help: "Seconds in a fallback downlink mode (binary, poll) before trying text frames again.")
    var retryTextAfter: Double = 600

    func validate() throws {
        for (flag, value) in [("--max-backoff", maxBackoff), ("--handshake-timeout", handshakeTimeout),
                              ("--watchdog-seconds", watchdogSeconds), ("--retry-text-after", retryTextAfter)] {
            guard value.isFinite, value > 0, value <= 86_400 else { throw ValidationError("\(flag) must be a number of seconds in (0, 86400] (got \(value))") }
        }
        if connection.enrollToken != nil && enrollTokenFile != nil { throw ValidationError("--enroll-token and --enroll-token-file exclude each other") }
    }

    func run() async throws {
        let servers = try connection.endpoints()
        var options = AgentOptions(endpoint: servers.first, stateDirectory: stateDirectory,
                                   enrollToken: try connection.enrollToken ?? enrollTokenFromFile(), name: name, version: GuruRMM.version)
        options.otherServers = servers.others
        options.allowPlain = connection.allowPlain
        switch downlink {
        case "auto": options.downlink = nil
        case "binary", "poll", "text": options.downlink = DownlinkMode(rawValue: downlink)
        default: throw ValidationError("--downlink must be auto, binary or poll (got '\(downlink)')")
        }
        options.maxBackoff = maxBackoff
        options.minBackoff = min(options.minBackoff, maxBackoff)
        options.handshakeTimeout = handshakeTimeout
        options.watchdogSeconds = watchdogSeconds
        options.retryPrimaryAfter = retryTextAfter
        let logger = makeLogger(label: "gururmm.agent", level: logLevel)
        let frozen = options
        do {
            try await runUntilSignalled { try await AgentRuntime.run(options: frozen, logger: logger) }
        } catch let error as AgentError {
            FileHandle.standardError.write(Data("gururmm agent: \(error)\n".utf8))
            throw ExitCode(3)
        }
    }

    /// The token in `--enroll-token-file`; nil without the flag, and once the agent is enrolled
    /// (the file may be gone by then; its enrollment already happened).
    private func enrollTokenFromFile() throws -> String? {
        guard let enrollTokenFile else { return nil }
        let identity = FileManager.default.contents(atPath: AgentIdentity.path(in: stateDirectory))
            .flatMap { try? JSONDecoder().decode(AgentIdentity.self, from: $0) }
        if identity?.agentId != nil { return nil }
        guard let text = try? String(contentsOfFile: enrollTokenFile, encoding: .utf8) else {
            throw ValidationError("--enroll-token-file: cannot read \(enrollTokenFile), and this agent is not enrolled yet")
        }
        guard let token = text.split(whereSeparator: \.isNewline).first.map({ $0.trimmingCharacters(in: .whitespaces) }), !token.isEmpty else {
            throw ValidationError("--enroll-token-file: \(enrollTokenFile) holds no token")
        }
        return token
    }
}
