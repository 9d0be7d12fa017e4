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

    @Option(name: .customLong("name"), help: "Name shown to operators (default: hostname).")
    var name: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error.")
    var logLevel: String = "info"

    @Option(name: .customLong("downlink"), help: "How the server sends data: auto (text frames, falling back by itself), binary, or poll (long-poll HTTP) for a site known to filter WebSocket data frames.")
    var downlink: String = "auto"

    func run() async throws {
        var options = AgentOptions(endpoint: try connection.endpoint(), stateDirectory: stateDirectory,
                                   enrollToken: connection.enrollToken, name: name, version: GuruRMM.version)
        options.allowPlain = connection.allowPlain
        switch downlink {
        case "auto": options.downlink = nil
        case "binary", "poll", "text": options.downlink = DownlinkMode(rawValue: downlink)
        default: throw ValidationError("--downlink must be auto, binary or poll (got '\(downlink)')")
        }
        // Tuning for tests and unusual sites; the defaults suit real fleets.
        let environment = ProcessInfo.processInfo.environment
        if let value = environment["GURURMM_AGENT_MAX_BACKOFF"].flatMap(Double.init) { options.maxBackoff = value }
        if let value = environment["GURURMM_AGENT_WATCHDOG_SECONDS"].flatMap(Double.init) { options.watchdogSeconds = value }
        if let value = environment["GURURMM_AGENT_RETRY_TEXT_AFTER"].flatMap(Double.init) { options.retryPrimaryAfter = value }
        if let value = environment["GURURMM_AGENT_HANDSHAKE_TIMEOUT"].flatMap(Double.init) { options.handshakeTimeout = value }
        let logger = makeLogger(label: "gururmm.agent", level: logLevel)
        let frozen = options
        do {
            try await runUntilSignalled { try await AgentRuntime.run(options: frozen, logger: logger) }
        } catch let error as AgentError {
            FileHandle.standardError.write(Data("gururmm agent: \(error)\n".utf8))
            throw ExitCode(3)
        }
    }
}
