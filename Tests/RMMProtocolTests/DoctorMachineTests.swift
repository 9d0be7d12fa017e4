import RMMProtocol
import Testing

/// Drives a `DoctorMachine` with scripted outcomes, as the runner would with real sockets.
private struct Script {
    var machine: DoctorMachine
    var actions: [DoctorAction] = []

    init(secure: Bool = false) {
        machine = DoctorMachine(host: "rmm.example.com", port: 7443, secure: secure)
        actions = [machine.start()]
    }

    /// Answers each action with `answer` until the machine finishes; returns its conclusion.
    mutating func run(_ answer: (DoctorAction) -> DoctorOutcome) -> DoctorConclusion {
        for _ in 0..<100 {
            guard let last = actions.last else { break }
            if case .finish(let conclusion) = last { return conclusion }
            actions.append(machine.record(answer(last)))
        }
        Issue.record("the machine did not finish: \(actions)")
        return DoctorVerdict.unreachable("unfinished", advice: "")
    }
}

/// A path where everything passes, except what `lose` says.
private func path(lose: @escaping (DownlinkMode, Int, Probe.Shape) -> Bool = { _, _, _ in false },
                  challenge: @escaping (DownlinkMode) -> Bool = { _ in true }) -> (DoctorAction) -> DoctorOutcome {
    var mode = DownlinkMode.text
    return { action in
        switch action {
        case .resolve: return .resolved(["192.0.2.7"])
        case .connectTCP: return .tcpConnected(ms: 1.5)
        case .handshakeTLS: return .tlsPassed(detail: "pinned", ms: 3)
        case .open(let next):
            mode = next
            return .opened(ms: 2, challenge: challenge(next), pongRttMs: 0.4)
        case .authenticate: return .ready
        case .ping: return .replied(rttMs: 0.5)
        case .echo(let size, let shape, _): return .replied(rttMs: lose(mode, size, shape) ? nil : 0.7)
        case .close: return .closed
        case .finish: return .closed
        }
    }
}

@Suite("gururmm doctor's decisions")
struct DoctorMachineTests {
    @Test("steps run in order: name, TCP, TLS, then text, binary and the long-poll, each upgrade, challenge, token, ping and echoes")
    func order() {
        var script = Script(secure: true)
        let conclusion = script.run(path())
        #expect(conclusion.verdict == .healthy && conclusion.exitCode == DoctorExit.healthy, "\(conclusion)")
        let names = script.machine.steps.map { "\($0.step.rawValue)\($0.downlink.map { "/" + $0.rawValue } ?? "")" }
        #expect(Array(names.prefix(8)) == ["dns", "tcp", "tls", "upgrade/text", "challenge/text", "token/text", "ping/text", "echo/text"])
        #expect(names.contains("upgrade/binary") && names.contains("upgrade/poll"))
        let opens = script.actions.compactMap { if case .open(let mode) = $0 { mode } else { nil } }
        #expect(opens == [.text, .binary, .poll])
        // Every plain size, then the command shape, on text and binary; the long-poll's plain sizes.
        let text = script.machine.probes.filter { $0.encoding == "text" }
        #expect(text.map(\.size) == DoctorPlan.sizes + [DoctorPlan.commandShapeBytes])
        #expect(script.machine.probes.filter { $0.encoding == "poll" }.map(\.size) == DoctorPlan.pollSizes)
        #expect(script.machine.steps.allSatisfy { $0.ok })
    }

    @Test("plain ws:// skips the TLS handshake and says so")
    func plain() {
        var script = Script(secure: false)
        _ = script.run(path())
        #expect(!script.actions.contains(.handshakeTLS))
        #expect(script.machine.steps[2].step == .tls && script.machine.steps[2].detail.contains("ws://"))
    }

    @Test("every probe connection stays within the server's pre-authentication limit")
    func withinTheLimit() {
        for mode in DoctorPlan.modes {
            #expect(DoctorPlan.bytesSent(mode) <= WireLimits.maxUnauthenticatedBytes, "\(mode)")
        }
        #expect(DoctorPlan.sizes.count + 1 <= DoctorLimits.maxEchoes)
        #expect(DoctorPlan.sizes.allSatisfy { $0 <= WireLimits.maxUnauthenticatedBytes / 2 })
    }

    @Test("text frames filtered (the challenge never comes on text) → path-filters-data, switch to binary, exit 1")
    func textFiltered() {
        var script = Script()
        let conclusion = script.run(path(challenge: { $0 != .text }))
        #expect(conclusion.verdict == .pathFiltersData && conclusion.action == .switchToBinary, "\(conclusion)")
        #expect(conclusion.exitCode == DoctorExit.degraded)
        #expect(conclusion.advice.contains("binary"))
        #expect(script.machine.steps.contains { $0.step == .challenge && $0.downlink == .text && !$0.ok })
    }

    @Test("frames above 12 000 bytes dropped → size-blackhole naming 4096 bytes, as diagnose says, exit 1")
    func sizeLimit() {
        var script = Script()
        let conclusion = script.run(path(lose: { mode, size, _ in mode != .poll && size > 12_000 }))
        #expect(conclusion.verdict == .sizeBlackhole && conclusion.largestPassedBytes == 4096, "\(conclusion)")
        #expect(conclusion.action == .shrinkPackets && conclusion.exitCode == DoctorExit.degraded)
        // Stops at the first loss: 32 KiB is never tried after 16 KiB was lost.
        #expect(!script.machine.probes.contains { $0.encoding == "text" && $0.size == 32_768 })
    }

    @Test("a command-shaped frame lost on text and binary, the long-poll passes → path-filters-data, switch to poll, exit 1")
    func contentInspection() {
        var script = Script()
        let conclusion = script.run(path(lose: { mode, _, shape in mode != .poll && shape == .command }))
        #expect(conclusion.verdict == .pathFiltersData && conclusion.action == .switchToPoll, "\(conclusion)")
        #expect(conclusion.exitCode == DoctorExit.degraded && conclusion.advice.contains("long-poll"))
    }

    @Test("no data on any downlink, pongs pass → path-filters-data with no fallback, exit 2")
    func nothingPasses() {
        var script = Script()
        let conclusion = script.run(path(challenge: { _ in false }))
        #expect(conclusion.verdict == .pathFiltersData && conclusion.exitCode == DoctorExit.unusable, "\(conclusion)")
    }

    @Test("the name does not resolve → agent-offline from the DNS step, nothing else tried, exit 2")
    func dnsFails() {
        var script = Script()
        let conclusion = script.run { _ in .failed("Name or service not known") }
        #expect(conclusion.verdict == .agentOffline && conclusion.exitCode == DoctorExit.unusable)
        #expect(conclusion.summary.contains("does not resolve") && conclusion.summary.contains("Name or service not known"))
        #expect(script.machine.steps.map(\.step) == [.dns])
    }

    @Test("TCP refused → agent-offline naming host and port, exit 2")
    func tcpFails() {
        var script = Script()
        let conclusion = script.run { action in action == .resolve ? .resolved(["127.0.0.1"]) : .failed("connection refused") }
        #expect(conclusion.verdict == .agentOffline && conclusion.summary.contains("rmm.example.com:7443"))
        #expect(script.machine.steps.last?.step == .tcp && script.machine.steps.last?.ok == false)
    }

    @Test("TLS fails → handshake-incomplete at TLS, exit 2")
    func tlsFails() {
        var script = Script(secure: true)
        let conclusion = script.run { action in
            switch action {
            case .resolve: .resolved(["127.0.0.1"])
            case .connectTCP: .tcpConnected(ms: 1)
            default: .failed("the certificate does not carry the pinned key")
            }
        }
        #expect(conclusion.verdict == .handshakeIncomplete && conclusion.stage == .tls && conclusion.exitCode == DoctorExit.unusable)
    }

    @Test("no upgrade answer after TCP (answer lost) → size-blackhole at TLS, as the agent's finding is judged")
    func answerLost() {
        var script = Script()
        let conclusion = script.run { action in
            switch action {
            case .resolve: .resolved(["127.0.0.1"])
            case .connectTCP: .tcpConnected(ms: 1)
            default: .openFailed("connected, but no TLS/upgrade answer", answerLost: true)
            }
        }
        #expect(conclusion.verdict == .sizeBlackhole && conclusion.stage == .tls)
    }

    @Test("the token refused (4001) → handshake-incomplete at the challenge, exit 3, naming the server's reason")
    func tokenRefused() {
        var script = Script()
        let healthy = path()
        let conclusion = script.run { action in
            action == .authenticate ? .refused(code: 4001, reason: "enrollment refused: enrollment token has no uses left") : healthy(action)
        }
        #expect(conclusion.exitCode == DoctorExit.tokenRefused && conclusion.verdict == .handshakeIncomplete && conclusion.stage == .challenge)
        #expect(conclusion.summary.contains("no uses left") && conclusion.advice.contains("new enrollment token"))
    }

    @Test("rate limited before the challenge → a clear refusal, exit 2")
    func rateLimited() {
        var script = Script()
        let healthy = path()
        let conclusion = script.run { action in
            if case .open = action { return .refused(code: 4009, reason: "too many failed authentications; retry in 40 s") }
            return healthy(action)
        }
        #expect(conclusion.exitCode == DoctorExit.unusable && conclusion.summary.contains("4009") && conclusion.advice.contains("wait"))
    }

    @Test("hostile timings (NaN, infinite, negative, huge) are clamped, never trapped on")
    func hostileNumbers() {
        for value in [Double.nan, .infinity, -.infinity, -5, 1e300] {
            var script = Script()
            let conclusion = script.run { action in
                switch action {
                case .resolve: .resolved(["127.0.0.1"])
                case .connectTCP: .tcpConnected(ms: value)
                case .open: .opened(ms: value, challenge: true, pongRttMs: value)
                case .authenticate: .ready
                case .close: .closed
                default: .replied(rttMs: value)
                }
            }
            #expect(script.machine.steps.allSatisfy { ($0.ms ?? 0).isFinite && ($0.ms ?? 0) >= 0 && ($0.ms ?? 0) <= 86_400_000 })
            #expect(conclusion.exitCode >= 0)
        }
    }

    @Test("an echo lost because the connection closed skips that connection's command-shaped echo")
    func closedConnection() {
        var script = Script()
        let healthy = path()
        var mode = DownlinkMode.text
        _ = script.run { action in
            if case .open(let next) = action { mode = next }
            if case .echo = action, mode == .text { return .failed("closed") }
            return healthy(action)
        }
        #expect(script.machine.probes.filter { $0.encoding == "text" }.count == 1)
    }
}
