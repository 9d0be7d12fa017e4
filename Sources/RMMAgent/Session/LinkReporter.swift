import Foundation
import RMMProtocol
import RMMTransport

/// Sends the agent's side of the link evidence over the uplink, and is the agent's watchdog.
///
/// It reads the link's counters directly and writes to the link directly, never through the agent's
/// message consumer, so a stuck consumer (H2) can still be seen and reported — and is torn down.
struct LinkReporter: Sendable {
    let link: WebSocketLink
    let policy: LinkPolicy
    /// The agent's current heartbeat interval, which sets the reports' rhythm.
    let heartbeatInterval: @Sendable () async -> Double
    /// Seconds the consumer may sit on waiting messages before the watchdog rebuilds the session.
    let watchdogSeconds: Double

    /// Woken by the consumer when it takes or finishes a message, and when a finding is recorded:
    /// between those, and the rhythm's own deadlines, nothing can make a report due.
    let wake: DeadlineWait

    /// Seconds a message may wait for the consumer before the stall is reported.
    static let stallReportAfter = 2.0

    func run() async {
        var watch = ConsumerWatch()
        var rhythm = LinkReportRhythm(now: Date())
        while !Task.isCancelled, link.closure == nil {
            let now = Date()
            let counters = link.counters
            let heartbeat = await heartbeatInterval()
            let stalledFor = watch.observe(received: counters.messagesReceived, handled: counters.messagesHandled, now: now)
            let stalled = stalledFor >= Self.stallReportAfter
            let newStall = stalled && !watch.reportedStall
            if newStall {
                policy.note("consumer-stalled")
                policy.find(.consumerStalled, detail: "\(counters.messagesReceived - counters.messagesHandled) message(s) waiting for \(Int(stalledFor)) s", now: now)
            }
            if rhythm.due(counters: counters, heartbeatInterval: heartbeat, now: now, policy: policy) || newStall {
                await send(stalledFor: stalledFor)
                rhythm.sent(counters: counters, heartbeatInterval: heartbeat, now: now)
                if stalled { watch.reportedStall = true }
            }
            if stalledFor >= watchdogSeconds {
                policy.note("watchdog: consumer stuck for \(Int(stalledFor)) s; session rebuilt")
                policy.find(.watchdog, detail: "consumer stuck for \(Int(stalledFor)) s; session rebuilt", now: now)
                await send(stalledFor: stalledFor)
                // Returning ends the connection's task group, which cancels the stuck consumer.
                link.close(.agentStalled, reason: "agent watchdog: consumer stuck for \(Int(stalledFor)) s")
                return
            }
            var next = rhythm.nextCheck(counters: counters, heartbeatInterval: heartbeat, now: now)
            if let stallCheck = watch.nextCheck(reportAfter: Self.stallReportAfter, watchdogSeconds: watchdogSeconds) { next = min(next, stallCheck) }
            // A floor so that a deadline that rounds to "now" cannot spin the loop.
            await wake.wait(until: max(next, Date().addingTimeInterval(0.005)))
        }
    }

    private func send(stalledFor: Double) async {
        link.send(Envelope(.linkReport(await LinkReport.current(of: link, policy: policy, consumerStalledSeconds: stalledFor))))
    }
}

extension LinkReport {
    /// The agent's side of the evidence for `link` now (shared with the fleet simulator).
    public static func current(of link: WebSocketLink, policy: LinkPolicy, consumerStalledSeconds: Double) async -> LinkReport {
        let (tcp, queued) = await link.transportState()
        // Kept small (well under one 1200-byte packet): a report must still get through a path
        // that loses large packets.
        var counters = link.counters
        counters.recentPongRttMs = Array(counters.recentPongRttMs.suffix(8))
        let side = LinkSideReport(counters: counters, tcp: tcp, queuedBytes: queued, downlinkMode: policy.mode, time: Date().timeIntervalSince1970)
        let history = policy.history
        let reconnects = history.reconnects.suffix(3).map { ReconnectRecord(time: $0.time, reason: String($0.reason.prefix(80))) }
        return LinkReport(side: side, reconnects: reconnects, agentFinding: history.finding.map { String($0.prefix(120)) }, consumerStalledSeconds: consumerStalledSeconds,
                          findings: history.findings.isEmpty ? nil : history.findings)
    }
}
