/// What `gururmm doctor`'s evidence means, in the verdicts `gururmm diagnose` uses: its probes are
/// judged by `LinkVerdict.decide`, as a server probe of a live connection is; the steps before any
/// probe (name, TCP, TLS, upgrade, token) end with the verdict that stage gets.
public enum DoctorVerdict {
    /// From the echoes on every downlink: `LinkVerdict.decide` on the text connection's evidence,
    /// then what an agent would do about it.
    public static func probed(probes: [ProbeResult], pongRttMs: Double?) -> DoctorConclusion {
        var evidence = LinkEvidence(source: .serverProbe, now: 0, connected: true, downlinkMode: .text)
        evidence.server = LinkSideReport(counters: LinkCounters(), tcp: nil, queuedBytes: nil, downlinkMode: .text, time: 0)
        evidence.pingSent = true
        evidence.pongRttMs = pongRttMs
        evidence.probes = probes
        evidence.probeSizes = DoctorPlan.sizes
        // No agent reports to a doctor: what it did not see, it will not see later.
        evidence.agentReportAwaited = true
        var conclusion: LinkConclusion?
        // Each round either concludes or asks for one more piece of evidence; a probe the doctor did
        // not run counts as lost (it runs every one `decide` can ask for, so this is a safeguard).
        for _ in 0..<16 {
            switch LinkVerdict.decide(evidence) {
            case .verdict(let found):
                conclusion = found
            case .gather(.probe(let size, let encoding, let shape, _)):
                evidence.probes.append(ProbeResult(size: size, encoding: encoding.rawValue, shape: shape, passed: false, rttMs: nil))
            case .gather(.ping):
                evidence.pingSent = true
            case .gather(.agentReport):
                evidence.agentReportAwaited = true
            case .gather(.recheckWritability):
                evidence.serverRecheck = evidence.server
            }
            if conclusion != nil { break }
        }
        let found = conclusion ?? LinkConclusion(verdict: .halfOpen, stage: .session, summary: "the probes did not settle on a verdict", action: .dropConnection)
        return advise(found, probes: probes)
    }

    /// The server cannot be reached (name or TCP).
    public static func unreachable(_ summary: String, advice: String) -> DoctorConclusion {
        DoctorConclusion(LinkConclusion(verdict: .agentOffline, stage: .tls, summary: summary), advice: advice, exitCode: DoctorExit.unusable)
    }

    /// TLS failed with the trust an agent would use.
    public static func tlsFailed(_ why: String) -> DoctorConclusion {
        DoctorConclusion(
            LinkConclusion(verdict: .handshakeIncomplete, stage: .tls, summary: "TCP connected but TLS did not complete: \(why)"),
            advice: "An agent would refuse this server too. Check that the URL names the GuruRMM server, and that the token (or --pin) comes from it; behind a TLS-terminating proxy, use a token with 'system' trust.",
            exitCode: DoctorExit.unusable
        )
    }

    /// The upgrade failed on the first connection.
    public static func upgradeFailed(_ why: String, answerLost: Bool) -> DoctorConclusion {
        if answerLost, let conclusion = LinkVerdict.decide(finding(.answerLost, why)).conclusion {
            return DoctorConclusion(conclusion, advice: "Large packets are lost between this host and the server: lower the MTU on the path (or fix the device that drops them); an agent clamps its packets and retries by itself.",
                                    exitCode: DoctorExit.unusable)
        }
        return DoctorConclusion(
            LinkConclusion(verdict: .handshakeIncomplete, stage: .tls, summary: "TCP connected but the WebSocket upgrade failed: \(why)"),
            advice: "Check that the URL names the server's agent port (not its API port) and that a proxy in the path passes WebSocket upgrades.",
            exitCode: DoctorExit.unusable
        )
    }

    /// The server refused the enrollment token.
    public static func tokenRefused(_ reason: String) -> DoctorConclusion {
        DoctorConclusion(
            LinkConclusion(verdict: .handshakeIncomplete, stage: .challenge,
                           summary: "the link works up to authentication, but the server refused the enrollment token: \(LogSafe.text(reason, limit: 200))"),
            advice: "Ask the operator for a new enrollment token (gururmm enroll-token): this one is unknown, expired, revoked or used up.",
            exitCode: DoctorExit.tokenRefused
        )
    }

    /// The server closed the connection before the probe session for another reason (rate limit, shutdown, …).
    public static func refused(code: Int, reason: String) -> DoctorConclusion {
        let said = "closed with \(code): \(LogSafe.text(reason, limit: 200))"
        let advice = code == Int(CloseCode.rateLimited.rawValue)
            ? "Too many failed attempts came from this address; wait for the time the server names, then run the doctor again."
            : "Run the doctor again later; if it keeps failing, show this to the operator."
        return DoctorConclusion(LinkConclusion(verdict: .handshakeIncomplete, stage: .challenge, summary: "the server \(said) before the probe session"),
                                advice: advice, exitCode: DoctorExit.unusable)
    }

    /// What a technician does about a probed verdict, and the exit code.
    static func advise(_ conclusion: LinkConclusion, probes: [ProbeResult]) -> DoctorConclusion {
        // A fallback works when every echo on it came back, the command-shaped one included.
        func passed(_ mode: DownlinkMode) -> Bool {
            let mine = probes.filter { $0.encoding == mode.rawValue }
            return !mine.isEmpty && mine.allSatisfy(\.passed)
        }
        switch conclusion.verdict {
        case .healthy:
            return DoctorConclusion(conclusion, advice: "The link is good: enroll this host with the same token.", exitCode: DoctorExit.healthy)
        case .sizeBlackhole:
            let size = conclusion.largestPassedBytes.map { "frames up to \($0) bytes pass" } ?? "only small frames pass"
            return DoctorConclusion(conclusion, advice: "An agent works here with smaller packets, which it switches to by itself; \(size): fix the MTU on the path (or the device that drops large packets).",
                                    exitCode: DoctorExit.degraded)
        default:
            break
        }
        if conclusion.action == .switchToBinary && passed(.binary) {
            return DoctorConclusion(conclusion, advice: "An agent works here: it switches to binary frames by itself. To restore text frames, exempt the agent port from the proxy's or firewall's WebSocket inspection.",
                                    exitCode: DoctorExit.degraded)
        }
        if conclusion.action != .switchToPoll && conclusion.action != .noFallbackLeft && passed(.binary) {
            return DoctorConclusion(conclusion, advice: "An agent works here over binary frames, which it falls back to by itself; exempt the agent port from the proxy's or firewall's WebSocket inspection.",
                                    exitCode: DoctorExit.degraded)
        }
        if passed(.poll) {
            return DoctorConclusion(conclusion, advice: "An agent works here over the slower long-poll downlink, which it falls back to by itself; exempt the agent port from the proxy's or firewall's WebSocket inspection.",
                                    exitCode: DoctorExit.degraded)
        }
        return DoctorConclusion(conclusion, advice: "No downlink carries data from the server to this host: an agent would not work here. Check the proxy or firewall between this host and the server.",
                                exitCode: DoctorExit.unusable)
    }

    private static func finding(_ kind: LinkFinding.Kind, _ detail: String) -> LinkEvidence {
        var evidence = LinkEvidence(source: .agentReport, now: 0, connected: false, downlinkMode: .text)
        evidence.finding = LinkFinding(kind: kind, time: 0, connectionId: nil, downlinkMode: .text, detail: detail)
        return evidence
    }
}
