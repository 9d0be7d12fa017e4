/// What `gururmm doctor` probes, in order: every downlink an agent can fall back to, each on its
/// own connection, with echoes that fit the server's pre-authentication limit.
public enum DoctorPlan {
    /// The downlinks probed, in the order an agent falls back through them.
    public static let modes: [DownlinkMode] = [.text, .binary, .poll]
    /// Plain echo sizes on a WebSocket downlink, smallest first (the smallest probe frame is about 70 bytes).
    public static let sizes = [64, 1024, 4096, 16_384, 32_768]
    /// Plain echo sizes on the long-poll downlink (each is one HTTP round trip).
    public static let pollSizes = [64, 4096]
    /// Size of the command-shaped echo after the plain ones.
    public static let commandShapeBytes = LinkProbePlan.commandShapeBytes
    /// Seconds to wait for the challenge, the token's answer, a pong or an echo.
    public static let replyTimeout = LinkProbePlan.probeTimeout
    /// Bytes a probe connection sends besides its echoes (the `doctor` message with its token, pings,
    /// the close frame), at most: with the echoes it must stay within the pre-authentication limit.
    public static let overheadBytes = 2 * 1024

    /// The plain echo sizes for `mode`.
    public static func sizes(for mode: DownlinkMode) -> [Int] {
        mode == .poll ? pollSizes : sizes
    }

    /// Whether `mode` gets the command-shaped echo after its plain ones.
    public static func echoesCommandShape(_ mode: DownlinkMode) -> Bool {
        mode != .poll
    }

    /// Bytes one probe connection in `mode` sends the server at most.
    public static func bytesSent(_ mode: DownlinkMode) -> Int {
        sizes(for: mode).reduce(0, +) + (echoesCommandShape(mode) ? commandShapeBytes : 0) + overheadBytes
    }
}

/// One step of `gururmm doctor`, as printed and in its JSON.
public struct DoctorStepResult: Codable, Sendable, Equatable {
    public enum Name: String, Codable, Sendable {
        case dns, tcp, tls, upgrade, challenge, token, ping, echo
    }

    public var step: Name
    /// The downlink of the connection the step ran on (nil before the first upgrade).
    public var downlink: DownlinkMode?
    public var ok: Bool
    /// What the step found, one line.
    public var detail: String
    /// How long it took, milliseconds.
    public var ms: Double?

    public init(step: Name, downlink: DownlinkMode? = nil, ok: Bool, detail: String, ms: Double? = nil) {
        self.step = step
        self.downlink = downlink
        self.ok = ok
        self.detail = detail
        self.ms = ms
    }
}

/// What the doctor concluded: the verdict `gururmm diagnose` would give, the sentence a technician
/// can act on, and the exit code.
public struct DoctorConclusion: Codable, Sendable, Equatable {
    public var verdict: LinkVerdict
    public var stage: LinkStage
    /// What the evidence says, as `LinkVerdict.decide` words it.
    public var summary: String
    public var action: LinkAction
    public var largestPassedBytes: Int?
    /// What to do about it.
    public var advice: String
    public var exitCode: Int32

    public init(_ conclusion: LinkConclusion, advice: String, exitCode: Int32) {
        verdict = conclusion.verdict
        stage = conclusion.stage
        summary = conclusion.summary
        action = conclusion.action
        largestPassedBytes = conclusion.largestPassedBytes
        self.advice = advice
        self.exitCode = exitCode
    }
}

/// `gururmm doctor`'s exit codes.
public enum DoctorExit {
    /// Every step passed: the link is healthy.
    public static let healthy: Int32 = 0
    /// The link has a fault an agent works around by itself (binary frames, the long-poll downlink,
    /// smaller packets): enrolling works, the path should still be fixed.
    public static let degraded: Int32 = 1
    /// No usable link: the server cannot be reached, TLS fails, or no downlink carries data.
    public static let unusable: Int32 = 2
    /// The link works up to authentication, but the server refused the enrollment token.
    public static let tokenRefused: Int32 = 3
}

/// Everything `gururmm doctor` found, as `--json` prints it.
public struct DoctorReport: Codable, Sendable, Equatable {
    /// The agent URL checked.
    public var server: String
    public var steps: [DoctorStepResult]
    public var probes: [ProbeResult]
    public var conclusion: DoctorConclusion

    public init(server: String, steps: [DoctorStepResult], probes: [ProbeResult], conclusion: DoctorConclusion) {
        self.server = server
        self.steps = steps
        self.probes = probes
        self.conclusion = conclusion
    }
}
