import Foundation
import RMMAPI
import RMMProtocol

/// A session's link-health state, pure: whether a diagnosis runs, when the last automatic one
/// started, the probes in flight, what a size-blackhole verdict imposed on every later
/// connection, and the evidence at hand (the agent's latest report, the last diagnosis). `LinkVerdict.decide` judges; this says what the session does about a verdict on
/// its connection (`heal`) and when an overdue command calls for a diagnosis (`autoDiagnosis`).
struct LinkHealthMachine: Sendable {
    /// One diagnosis at a time per agent.
    private(set) var diagnosing = false
    private(set) var lastAutoDiagnosis = Date.distantPast
    /// Message cap learned from a size-blackhole verdict; applies to every later connection.
    private(set) var messageCapOverride: Int?
    /// A size-blackhole verdict: the agent must connect with a clamped TCP MSS.
    private(set) var needsClampedMSS = false
    private var nextProbeId = 1
    /// When each probe in flight was sent.
    private var probeSentAt: [Int: Date] = [:]
    /// The agent's latest link report on the current connection, and when it arrived.
    @OutOfLine private(set) var agentReport: ReportSeen?
    /// The newest finished diagnosis of this agent (kept across connections).
    @OutOfLine private(set) var lastDiagnosis: LinkDiagnosis?

    init() {}

    /// An agent's link report and when it arrived.
    struct ReportSeen: Sendable, Equatable {
        let report: LinkReport
        let at: Date
    }

    /// What the session does to its connection in response to a verdict.
    enum LinkOperation: Equatable {
        /// Close with `code`, saying `reason` (the agent reconnects as it says).
        case close(CloseCode, reason: String)
        /// Cap the messages the link accepts at `cap` bytes, then close with `code`.
        case capThenClose(cap: Int, CloseCode, reason: String)
        /// Drop the connection without a close handshake (it is half-open).
        case abort
    }

    /// A verdict's response on the current connection, and what it did in words.
    struct Healing: Equatable {
        var operation: LinkOperation?
        var words: [String]
    }

    // MARK: diagnoses

    /// Claims the right to run a diagnosis; false if one runs already.
    mutating func beginDiagnosis() -> Bool {
        if diagnosing { return false }
        diagnosing = true
        return true
    }

    /// Seconds between automatic diagnoses of one agent's overdue commands.
    static func autoDiagnosisSpacing(ackDeadline: Double) -> Double { max(2 * ackDeadline, 10) }

    /// The trigger of an automatic diagnosis when `overdue` (a command unacknowledged past the ack
    /// deadline) calls for one at `now` and none ran within the spacing; the session starts it.
    mutating func autoDiagnosis(overdue: (id: String, age: Double)?, now: Date, ackDeadline: Double) -> String? {
        guard let overdue, !diagnosing,
              now.timeIntervalSince(lastAutoDiagnosis) >= Self.autoDiagnosisSpacing(ackDeadline: ackDeadline) else { return nil }
        lastAutoDiagnosis = now
        return "auto: command \(overdue.id) unacknowledged for \(Int(overdue.age)) s"
    }

    /// When an automatic diagnosis may next be due: the oldest command write past the ack
    /// deadline, no sooner than the spacing allows.
    func autoDiagnosisDue(oldestCommandWrite: Date?, ackDeadline: Double) -> Date? {
        guard let oldestCommandWrite else { return nil }
        return max(oldestCommandWrite.addingTimeInterval(ackDeadline),
                   lastAutoDiagnosis.addingTimeInterval(Self.autoDiagnosisSpacing(ackDeadline: ackDeadline)))
    }

    /// A diagnosis of the connection of `examinedEpoch` (nil: the agent was offline) concluded
    /// `conclusion` while `currentEpoch` is live: records what the verdict imposes on later
    /// connections, and returns the response on the current one. Only the connection examined is
    /// healed: a newer one must not pay for the old one's faults.
    mutating func finishDiagnosis(_ conclusion: LinkConclusion, examinedEpoch: Int?, currentEpoch: Int?) -> Healing {
        diagnosing = false
        if conclusion.action == .shrinkPackets { clampForSizeBlackhole(largestPassed: conclusion.largestPassedBytes) }
        guard let examinedEpoch else { return Healing(operation: nil, words: []) }
        guard currentEpoch == examinedEpoch else {
            return Healing(operation: nil, words: ["the agent had already reconnected; the new connection was left alone"])
        }
        return heal(conclusion.action)
    }

    /// The response assigned to each verdict's action, on the current connection.
    func heal(_ action: LinkAction) -> Healing {
        switch action {
        case .none:
            return Healing(operation: nil, words: [])
        case .switchToBinary, .switchToPoll:
            let next: DownlinkMode = action == .switchToBinary ? .binary : .poll
            let hint = CloseHint.switchDownlink(next)
            return Healing(operation: .close(hint.code, reason: hint.reason),
                           words: ["asked the agent to reconnect with the \(next.rawValue) downlink"])
        case .noFallbackLeft:
            return Healing(operation: nil, words: ["already on the long-poll downlink; no further fallback"])
        case .shrinkPackets:
            let cap = messageCapOverride ?? PacketLimits.minMessageCap
            let hint = CloseHint.shrinkPackets(mss: PacketLimits.clampedMSS, cap: cap)
            return Healing(operation: .capThenClose(cap: cap, hint.code, reason: hint.reason),
                           words: ["capped messages at \(cap) bytes", "asked the agent to reconnect with TCP MSS \(PacketLimits.clampedMSS) (and will ask again at its next connect if it does not)"])
        case .rebuildSession:
            return Healing(operation: .close(.agentStalled, reason: "agent consumer stalled; rebuild the session"),
                           words: ["closed the session so the agent rebuilds it"])
        case .resetCodec:
            return Healing(operation: .close(.protocolDesync, reason: "decode errors; reconnect with fresh codec state"),
                           words: ["closed the session so both sides start with fresh codec state"])
        case .closeBlocked:
            return Healing(operation: .close(.writeBlocked, reason: "server cannot write to this connection"),
                           words: ["closed the blocked connection; the agent reconnects"])
        case .dropConnection:
            return Healing(operation: .abort, words: ["dropped the half-open connection"])
        }
    }

    /// After a size blackhole, every later connection of this agent must use small packets.
    private mutating func clampForSizeBlackhole(largestPassed: Int?) {
        let largest = largestPassed ?? 2048
        messageCapOverride = max(PacketLimits.minMessageCap, min(largest, PacketLimits.maxMessageCap) / 2)
        needsClampedMSS = true
    }

    /// Keeps a finished diagnosis as the newest.
    mutating func diagnosed(_ diagnosis: LinkDiagnosis) {
        lastDiagnosis = diagnosis
    }

    /// The history line a finished diagnosis leaves on each command sent on the link it examined.
    static func diagnosisNote(_ diagnosis: LinkDiagnosis) -> String {
        "link diagnosis (\(diagnosis.trigger)): \(diagnosis.verdict.rawValue): \(diagnosis.summary)"
            + (diagnosis.actions.isEmpty ? "" : "; action: " + diagnosis.actions.joined(separator: "; "))
    }

    // MARK: connections

    /// A new connection: the agent's report on the old one is no evidence about it.
    mutating func connected() {
        agentReport = nil
    }

    /// The agent sent its link report at `now`.
    mutating func agentReported(_ report: LinkReport, now: Date) {
        agentReport = ReportSeen(report: report, at: now)
    }

    /// The message cap for a new connection: the config's, or less after a size blackhole.
    func messageCap(configured: Int) -> Int {
        min(configured, messageCapOverride ?? Int.max)
    }

    /// The close reason that tells an agent to reconnect with a clamped MSS before it may have a
    /// session (sent before any large frame, so it fits through the blackhole), or nil.
    func requiredPacketLimits(agentMSS: Int?) -> String? {
        guard needsClampedMSS, agentMSS == nil || (agentMSS ?? Int.max) > PacketLimits.clampedMSS else { return nil }
        return CloseHint.shrinkPackets(mss: PacketLimits.clampedMSS, cap: messageCapOverride ?? PacketLimits.minMessageCap).reason
    }

    // MARK: probes

    /// Numbers a probe sent at `now`.
    mutating func probeSent(now: Date) -> Int {
        let id = nextProbeId
        nextProbeId += 1
        probeSentAt[id] = now
        return id
    }

    /// The agent answered probe `id` at `now`: its round trip in ms (0 for one not in flight).
    mutating func probeReplied(_ id: Int, now: Date) -> Double {
        probeSentAt.removeValue(forKey: id).map { now.timeIntervalSince($0) * 1000 } ?? 0
    }

    /// Probe `id` timed out.
    mutating func probeExpired(_ id: Int) {
        probeSentAt[id] = nil
    }
}
