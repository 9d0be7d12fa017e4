import Foundation
import RMMProtocol
import RMMStore

/// A session's verdict history, pure: the newest verdict recorded about the agent, which of the
/// agent's findings were already judged (bounded), and how many new ones a 10 s window still takes
/// (a hostile agent cannot turn its reports into a stream of store writes). The session does the
/// store I/O and the logging it returns.
struct VerdictLedger: Sendable {
    /// The newest entry of the agent's verdict history, once known (see `latestLoaded`).
    @OutOfLine private(set) var latest: VerdictRecord?
    /// Whether `latest` was recorded or looked up in the store (nil there means none yet).
    private(set) var latestLoaded = false
    /// Keys of the agent findings already judged, oldest first.
    @OutOfLine private var judged: [String]?
    @OutOfLine private var window: FindingWindow?

    /// Findings judged per window at most (more are dropped unjudged).
    static let windowSeconds = 10.0
    /// Judged keys remembered (the agent sends at most `LinkFinding.maxPerReport` at a time).
    static let judgedKept = 4 * LinkFinding.maxPerReport

    init() {}

    /// One window of an agent's new findings: how many were judged, and how many dropped beyond
    /// the limit (the first drop is logged at once, the rest when the window ends).
    struct FindingWindow: Sendable, Equatable {
        var start: Date
        var count = 0
        /// Dropped findings logged with the window's first drop.
        var droppedLogged = 0
        /// Dropped findings not logged yet.
        var dropped = 0
    }

    // MARK: the newest verdict

    /// The store recorded `stored`: it becomes the newest unless a newer one is already known
    /// (concurrent records resume in any order). True if it is the first of its run (log it).
    mutating func recorded(_ stored: VerdictRecord) -> Bool {
        if VerdictRecord.isNewer(stored, than: latest) { latest = stored }
        latestLoaded = true
        return stored.count == 1
    }

    /// The store's newest entry, read at start-up; a verdict recorded meanwhile wins.
    mutating func loaded(_ storeLatest: VerdictRecord?) {
        guard !latestLoaded else { return }
        latest = storeLatest
        latestLoaded = true
    }

    /// The newest recorded verdict: this run's, else `storedLatest` (the store's newest).
    func current(storedLatest: VerdictRecord?) -> VerdictRecord? {
        latestLoaded ? latest : storedLatest
    }

    // MARK: the agent's findings

    /// Whether a finding is judged now.
    enum Admission: Equatable {
        /// Judged before (on this or an earlier connection): skip it.
        case judged
        /// Judge it: its key is marked judged already (undo with `judgingFailed` if it is not recorded).
        case judge
        /// The window is full: this finding and the rest of the report are dropped unjudged.
        case full
    }

    /// Whether `findings[index]` (of a report's findings sorted by time) is judged at `now`, and
    /// what to log (at notice level). Marks it judged before the caller awaits anything, so a report
    /// repeated meanwhile on a new connection is not judged twice.
    mutating func admit(_ findings: [LinkFinding], at index: Int, now: Date) -> (admission: Admission, logs: [String]) {
        let key = Self.key(findings[index])
        if judged?.contains(key) == true { return (.judged, []) }
        var logs: [String] = []
        var window = self.window ?? FindingWindow(start: now)
        if now.timeIntervalSince(window.start) >= Self.windowSeconds || now < window.start {
            if let line = Self.droppedLine(window) { logs.append(line) }
            window = FindingWindow(start: now)
        }
        guard window.count < LinkFinding.maxPerReport else {
            // One log line per window at most (reports have no rate limit): the first drop says so;
            // later ones are counted and logged when the window ends.
            let dropped = findings[index...].filter { judged?.contains(Self.key($0)) != true }.count
            if window.droppedLogged == 0 {
                logs.append("ignored \(dropped) agent findings beyond \(LinkFinding.maxPerReport) per 10 s")
                window.droppedLogged = dropped
            } else {
                window.dropped += dropped
            }
            self.window = window
            return (.full, logs)
        }
        window.count += 1
        self.window = window
        judged = Array(((judged ?? []) + [key]).suffix(Self.judgedKept))
        return (.judge, logs)
    }

    /// `finding` was admitted but its verdict not recorded: it may be judged again when repeated.
    mutating func judgingFailed(_ finding: LinkFinding) {
        let key = Self.key(finding)
        judged?.removeAll { $0 == key }
    }

    /// The key a finding is judged once under.
    static func key(_ finding: LinkFinding) -> String {
        "\(finding.kind.rawValue)|\(finding.time)|\(finding.connectionId ?? "")"
    }

    /// The log line for the findings dropped in `window` after its first line, if any.
    private static func droppedLine(_ window: FindingWindow) -> String? {
        guard window.dropped > 0 else { return nil }
        return "ignored \(window.dropped) more agent findings beyond \(LinkFinding.maxPerReport) in the \(Int(windowSeconds)) s after \(ISO8601DateFormatter().string(from: window.start))"
    }

    /// The evidence a finding of `report` is judged on at `now`, and the time its verdict is dated
    /// (the finding's, never later than now): an agent report's, or, when the server's handshake
    /// book held the attempt the finding names, a handshake's combining both.
    static func evidence(for finding: LinkFinding, of report: LinkReport, handshake: HandshakeFact?, now: Date) -> (evidence: LinkEvidence, at: Date) {
        let at = Date(timeIntervalSince1970: min(finding.time, now.timeIntervalSince1970))
        var evidence = LinkEvidence(source: .agentReport, now: now.timeIntervalSince1970, downlinkMode: finding.downlinkMode)
        evidence.finding = finding
        evidence.agent = report
        evidence.agentReportAt = now.timeIntervalSince1970
        if let handshake {
            evidence.source = .handshake
            evidence.handshake = handshake
            evidence.downlinkMode = handshake.downlinkMode
        }
        return (evidence, at)
    }

    /// The history line an adverse verdict leaves on each waiting command, and the prefix that
    /// makes it once per command, verdict kind and source.
    static func delayNote(for entry: VerdictRecord) -> (note: String, once: String) {
        let since = ISO8601DateFormatter().string(from: entry.firstAt)
        let once = "delayed by link verdict \(entry.verdict.rawValue) (\(entry.source.rawValue), "
        return ("\(once)\(entry.stage.rawValue)) since \(since): \(entry.summary)", once)
    }
}
