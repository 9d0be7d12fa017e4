import ArgumentParser
import Foundation
import RMMProtocol
import RMMTransport

/// `gururmm doctor`: run by a site technician on a host before enrolling it; checks every step of
/// the link an agent would use and says what is wrong in the verdicts `gururmm diagnose` uses.
struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check this host's link to the server before enrolling it: DNS, TCP, TLS, the upgrade, pings, echoes, the long-poll downlink.",
        discussion: """
            The enrollment token is read from --token-file or standard input (never the command line) and is \
            checked, not used up. Exit codes: 0 the link is healthy; 1 a fault an agent works around by itself \
            (binary frames, the long-poll downlink, smaller packets); 2 no usable link; 3 the server refused the token.
            """
    )

    @Option(name: .customLong("server"), help: ArgumentHelp("The agent URL an agent would use, e.g. wss://rmm.example.com:7443.", valueName: "url"))
    var server: String

    @Option(name: .customLong("token-file"), help: ArgumentHelp("File holding the enrollment token (default: read it from standard input).", valueName: "file"))
    var tokenFile: String?

    @Option(name: .customLong("pin"), help: "Check the server's TLS key against this pin (sha256:…) instead of the trust the token carries.")
    var pin: String?

    @Flag(name: .customLong("json"), help: "Print the whole report as JSON (and nothing as it goes).")
    var json = false

    @Option(name: .customLong("token"), help: .hidden)
    var tokenArgument: String?

    @Option(name: .customLong("enroll-token"), help: .hidden)
    var enrollTokenArgument: String?

    func validate() throws {
        if tokenArgument != nil || enrollTokenArgument != nil {
            throw ValidationError("the enrollment token is never taken from the command line (anyone on this host can read it in the process list): use --token-file FILE, or pipe it to standard input")
        }
        do {
            _ = try ServerEndpoint(parsing: server)
            if let pin { _ = try TLSTrust(parsing: pin) }
        } catch {
            throw ValidationError("\(error)")
        }
    }

    func run() async throws {
        let endpoint = try ServerEndpoint(parsing: server)
        let token = try readToken()
        var trust: TLSTrust?
        if endpoint.secure {
            guard let text = pin ?? EnrollmentToken(parsing: token).tlsTrust else {
                throw ValidationError("\(endpoint) is wss:// but the token carries no TLS trust (it comes from a --plain server): pass --pin")
            }
            trust = try TLSTrust(parsing: text)
        }
        let json = self.json
        let runner = DoctorRunner(endpoint: endpoint, trust: trust, token: token) { step in
            if !json { say(DoctorPrinter.line(step)) }
        }
        let report = await runner.run()
        if json {
            try printJSON(report)
        } else {
            for line in DoctorPrinter.conclusion(report.conclusion) { say(line) }
        }
        if report.conclusion.exitCode != 0 { throw ExitCode(report.conclusion.exitCode) }
    }

    /// The token from `--token-file` or standard input: its first line, trimmed.
    private func readToken() throws -> String {
        let text: String
        if let tokenFile {
            guard let read = FileManager.default.contents(atPath: tokenFile) else { throw ValidationError("cannot read the token file \(tokenFile)") }
            text = String(decoding: read, as: UTF8.self)
        } else {
            text = readLine() ?? ""
        }
        let token = text.split(whereSeparator: \.isNewline).first.map(String.init)?.trimmingCharacters(in: .whitespaces) ?? ""
        guard !token.isEmpty else {
            throw ValidationError(tokenFile == nil ? "no enrollment token on standard input (pipe it in, or use --token-file FILE)" : "the token file \(tokenFile ?? "") is empty")
        }
        guard token.utf8.count <= DoctorLimits.maxTokenBytes else { throw ValidationError("the enrollment token is longer than \(DoctorLimits.maxTokenBytes) bytes") }
        return token
    }
}

/// How the doctor's steps and conclusion read on a terminal.
enum DoctorPrinter {
    static func line(_ step: DoctorStepResult) -> String {
        let name = step.step.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)
        let mode = step.downlink.map { "[\($0.rawValue)] " } ?? ""
        let time = step.ms.map { String(format: " (%.1f ms)", $0) } ?? ""
        return "\(name) \(step.ok ? "ok  " : "FAIL") \(mode)\(step.detail)\(time)"
    }

    static func conclusion(_ conclusion: DoctorConclusion) -> [String] {
        [
            // Before any connection (name, TCP) no stage of a connection applies.
            "verdict    \(conclusion.verdict.rawValue)\(conclusion.verdict == .agentOffline ? "" : " (\(LinkProvenance.words(conclusion.stage)))"): \(conclusion.verdict.headline)",
            "why        \(conclusion.summary)",
            "do         \(conclusion.advice)",
            "exit       \(conclusion.exitCode)",
        ]
    }
}
