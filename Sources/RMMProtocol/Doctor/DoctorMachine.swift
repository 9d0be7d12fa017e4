/// What the doctor's runner does next (`DoctorMachine`).
public enum DoctorAction: Sendable, Equatable {
    /// Resolve the server's name.
    case resolve
    /// Open (and close) a TCP connection to the server's port, timed.
    case connectTCP
    /// Complete a TLS handshake with the trust an agent would use, then close.
    case handshakeTLS
    /// Upgrade a new connection with this downlink, send a ping, and wait for the challenge.
    case open(DownlinkMode)
    /// Send `doctor` with the token; wait for `doctor_ready` or a refusal.
    case authenticate
    /// Send a ping and wait for its pong.
    case ping(timeoutSeconds: Double)
    /// Send one `probe` of exactly `size` bytes and wait for its echo.
    case echo(size: Int, shape: Probe.Shape, timeoutSeconds: Double)
    /// Close the current connection (normal close).
    case close
    /// Done: print this.
    case finish(DoctorConclusion)
}

/// What the runner saw doing an action.
public enum DoctorOutcome: Sendable, Equatable {
    case resolved([String])
    case tcpConnected(ms: Double)
    /// TLS passed; `detail` names the trust and the certificate's pin.
    case tlsPassed(detail: String, ms: Double)
    /// The upgrade was answered; whether the challenge came, and the first pong's round trip.
    case opened(ms: Double, challenge: Bool, pongRttMs: Double?)
    /// The upgrade failed; `answerLost`: TCP connected but no TLS or upgrade answer came back.
    case openFailed(String, answerLost: Bool)
    case ready
    /// The server closed with this code and reason instead of answering `doctor_ready`.
    case refused(code: Int, reason: String)
    /// A pong (its round trip) or an echo (its round trip); nil: nothing came in time.
    case replied(rttMs: Double?)
    case closed
    /// The action failed, with why (a resolver error, a refused connection, a closed link, …).
    case failed(String)
}

/// The order of `gururmm doctor`'s steps and what each outcome means, without I/O: the runner does
/// what `start` and `record` return and feeds back what it saw. Steps to print accumulate in `steps`.
public struct DoctorMachine: Sendable {
    private enum Phase: Sendable, Equatable {
        case idle, resolving, connecting, tls
        case opening(DownlinkMode), authenticating(DownlinkMode), pinging(DownlinkMode)
        case echoing(DownlinkMode, index: Int), commandEcho(DownlinkMode), closing(DownlinkMode)
        case done
    }

    public let host: String
    public let port: Int
    public let secure: Bool
    public private(set) var steps: [DoctorStepResult] = []
    public private(set) var probes: [ProbeResult] = []
    /// The text connection's pong round trip, and whether a ping was sent on it.
    private var pongRttMs: Double?
    private var phase = Phase.idle

    public init(host: String, port: Int, secure: Bool) {
        self.host = host
        self.port = port
        self.secure = secure
    }

    public mutating func start() -> DoctorAction {
        phase = .resolving
        return .resolve
    }

    public mutating func record(_ outcome: DoctorOutcome) -> DoctorAction {
        switch (phase, outcome) {
        case (.resolving, .resolved(let addresses)) where !addresses.isEmpty:
            note(.dns, ok: true, "\(host) → \(addresses.prefix(4).joined(separator: ", "))\(addresses.count > 4 ? ", …" : "")")
            phase = .connecting
            return .connectTCP
        case (.resolving, _):
            let why = Self.why(outcome, otherwise: "no address")
            note(.dns, ok: false, "\(host) does not resolve: \(why)")
            return finish(DoctorVerdict.unreachable("the server's name \(host) does not resolve (\(why))",
                                                    advice: "Check the server name in the URL and this host's DNS settings."))
        case (.connecting, .tcpConnected(let ms)):
            note(.tcp, ok: true, "connected to \(host):\(port)", ms: ms)
            if secure {
                phase = .tls
                return .handshakeTLS
            }
            note(.tls, ok: true, "none: ws:// (a server run with --plain; commands travel readable)")
            return open(.text)
        case (.connecting, _):
            let why = Self.why(outcome, otherwise: "no connection")
            note(.tcp, ok: false, "cannot connect to \(host):\(port): \(why)")
            return finish(DoctorVerdict.unreachable(
                "no TCP connection to \(host):\(port) (\(why))",
                advice: "Check that the server runs, that the URL names its agent port, and that no firewall between this host and the server blocks port \(port)."
            ))
        case (.tls, .tlsPassed(let detail, let ms)):
            note(.tls, ok: true, detail, ms: ms)
            return open(.text)
        case (.tls, _):
            let why = Self.why(outcome, otherwise: "no TLS answer")
            note(.tls, ok: false, why)
            return finish(DoctorVerdict.tlsFailed(why))

        case (.opening(let mode), .opened(let ms, let challenge, let rtt)):
            note(.upgrade, mode, ok: true, "WebSocket upgrade accepted", ms: ms)
            if mode == .text { pongRttMs = rtt }
            guard challenge else {
                note(.challenge, mode, ok: false, "no challenge within \(Int(DoctorPlan.replyTimeout)) s; \(rtt == nil ? "no pong either" : "pongs arrive")")
                // The challenge is the connection's first data frame: it counts as the smallest echo lost.
                lost(mode)
                phase = .closing(mode)
                return .close
            }
            note(.challenge, mode, ok: true, "challenge received")
            phase = .authenticating(mode)
            return .authenticate
        case (.opening(let mode), .refused(let code, let reason)):
            note(.upgrade, mode, ok: true, "WebSocket upgrade accepted")
            note(.challenge, mode, ok: false, "the server closed with \(code): \(LogSafe.text(reason, limit: 200))")
            return finish(DoctorVerdict.refused(code: code, reason: reason))
        case (.opening(let mode), .openFailed(let why, let answerLost)):
            note(.upgrade, mode, ok: false, why)
            if mode == .text { return finish(DoctorVerdict.upgradeFailed(why, answerLost: answerLost)) }
            lost(mode)
            return next(after: mode)
        case (.opening(let mode), _):
            note(.upgrade, mode, ok: false, Self.why(outcome, otherwise: "no answer"))
            if mode == .text { return finish(DoctorVerdict.upgradeFailed(Self.why(outcome, otherwise: "no answer"), answerLost: false)) }
            lost(mode)
            return next(after: mode)

        case (.authenticating(let mode), .ready):
            note(.token, mode, ok: true, "accepted (checked, not used up)")
            phase = .pinging(mode)
            return .ping(timeoutSeconds: DoctorPlan.replyTimeout)
        case (.authenticating(let mode), .refused(let code, let reason)) where code == Int(CloseCode.authenticationFailed.rawValue):
            note(.token, mode, ok: false, "refused (\(code)): \(reason)")
            return finish(DoctorVerdict.tokenRefused(reason))
        case (.authenticating(let mode), .refused(let code, let reason)):
            note(.token, mode, ok: false, "the server closed with \(code): \(LogSafe.text(reason, limit: 200))")
            return finish(DoctorVerdict.refused(code: code, reason: reason))
        case (.authenticating(let mode), _):
            let why = Self.why(outcome, otherwise: "no answer")
            note(.token, mode, ok: false, "no answer to the token: \(why)")
            lost(mode)
            phase = .closing(mode)
            return .close

        case (.pinging(let mode), _):
            let rtt = Self.rtt(outcome)
            note(.ping, mode, ok: rtt != nil, rtt == nil ? "no pong within \(Int(DoctorPlan.replyTimeout)) s" : "pong", ms: rtt)
            if mode == .text, let rtt { pongRttMs = rtt }
            return echo(mode, index: 0)

        case (.echoing(let mode, let index), _):
            let size = DoctorPlan.sizes(for: mode)[index]
            let passed = echoed(mode, size: size, shape: .plain, outcome)
            if passed, index + 1 < DoctorPlan.sizes(for: mode).count { return echo(mode, index: index + 1) }
            // Stop at the first loss, as a diagnosis does: on a real blackhole TCP stalls behind it.
            var linkAlive = true
            if case .failed = outcome { linkAlive = false }
            if DoctorPlan.echoesCommandShape(mode), linkAlive {
                phase = .commandEcho(mode)
                return .echo(size: DoctorPlan.commandShapeBytes, shape: .command, timeoutSeconds: DoctorPlan.replyTimeout)
            }
            phase = .closing(mode)
            return .close
        case (.commandEcho(let mode), _):
            _ = echoed(mode, size: DoctorPlan.commandShapeBytes, shape: .command, outcome)
            phase = .closing(mode)
            return .close

        case (.closing(let mode), _):
            return next(after: mode)
        case (.idle, _), (.done, _):
            return finish(DoctorVerdict.unreachable("the doctor was asked to go on after it finished", advice: "Report this as a bug."))
        }
    }

    private mutating func open(_ mode: DownlinkMode) -> DoctorAction {
        phase = .opening(mode)
        return .open(mode)
    }

    private mutating func echo(_ mode: DownlinkMode, index: Int) -> DoctorAction {
        phase = .echoing(mode, index: index)
        return .echo(size: DoctorPlan.sizes(for: mode)[index], shape: .plain, timeoutSeconds: DoctorPlan.replyTimeout)
    }

    private mutating func next(after mode: DownlinkMode) -> DoctorAction {
        guard let index = DoctorPlan.modes.firstIndex(of: mode), index + 1 < DoctorPlan.modes.count else {
            return finish(DoctorVerdict.probed(probes: probes, pongRttMs: pongRttMs))
        }
        return open(DoctorPlan.modes[index + 1])
    }

    private mutating func finish(_ conclusion: DoctorConclusion) -> DoctorAction {
        phase = .done
        return .finish(conclusion)
    }

    /// Records an echo; returns whether it came back.
    private mutating func echoed(_ mode: DownlinkMode, size: Int, shape: Probe.Shape, _ outcome: DoctorOutcome) -> Bool {
        let rtt = Self.rtt(outcome)
        probes.append(ProbeResult(size: size, encoding: mode.rawValue, shape: shape, passed: rtt != nil, rttMs: rtt))
        let what = shape == .command ? "\(size) B shaped like a command" : "\(size) B"
        let lostWhy = Self.why(outcome, otherwise: "no echo within \(Int(DoctorPlan.replyTimeout)) s")
        note(.echo, mode, ok: rtt != nil, rtt == nil ? "\(what): lost (\(lostWhy))" : "\(what): echoed", ms: rtt)
        return rtt != nil
    }

    /// The smallest plain echo in `mode`, lost: no data frame came on that connection.
    private mutating func lost(_ mode: DownlinkMode) {
        let size = DoctorPlan.sizes(for: mode)[0]
        guard !probes.contains(where: { $0.encoding == mode.rawValue }) else { return }
        probes.append(ProbeResult(size: size, encoding: mode.rawValue, shape: .plain, passed: false, rttMs: nil))
    }

    private mutating func note(_ step: DoctorStepResult.Name, _ mode: DownlinkMode? = nil, ok: Bool, _ detail: String, ms: Double? = nil) {
        steps.append(DoctorStepResult(step: step, downlink: mode, ok: ok, detail: detail, ms: ms.map(Self.sane)))
    }

    private static func rtt(_ outcome: DoctorOutcome) -> Double? {
        if case .replied(let rtt) = outcome { return rtt.map(sane) }
        return nil
    }

    private static func why(_ outcome: DoctorOutcome, otherwise: String) -> String {
        switch outcome {
        case .failed(let why), .openFailed(let why, _): return LogSafe.text(why, limit: 600)
        case .refused(let code, let reason): return "closed with \(code): \(LogSafe.text(reason, limit: 200))"
        default: return otherwise
        }
    }

    /// A duration fit to print and encode: finite, not negative, at most a day.
    static func sane(_ ms: Double) -> Double {
        guard ms.isFinite else { return 0 }
        return min(max(ms, 0), 86_400_000)
    }
}
