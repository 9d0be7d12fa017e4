import ArgumentParser
import Foundation
import RMMAPI
import RMMProtocol

/// `gururmm diagnose AGENT`: probes the agent's link now and prints the verdict, evidence and action.
struct DiagnoseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diagnose",
        abstract: "Probe an agent's link now: verdict, evidence, and what was done about it.",
        discussion: "Verdicts: healthy, agent-offline, agent-stalled, path-filters-data, size-blackhole, protocol-desync, write-blocked, half-open, superseded, handshake-incomplete, path-alters-data. Besides the fresh probes it prints the agent's last adverse verdict from its history. With --addresses: failed connection attempts no agent has claimed, per address. See docs/diagnosis.md."
    )

    @OptionGroup var api: APIOptions
    @Argument(help: "Agent id or name.") var agent: String?
    @Flag(name: .customLong("json"), help: "Print the whole diagnosis as JSON.") var json = false
    @Flag(name: .customLong("addresses"), help: "List failed connection attempts attributed to no agent, per address (no probes).") var addresses = false

    func validate() throws {
        if addresses == (agent != nil) { throw ValidationError("give an agent, or --addresses (not both)") }
    }

    func run() async throws {
        if addresses {
            try await printAddresses()
            return
        }
        let agent = agent ?? ""
        let client = try api.client()
        let diagnosis = try await client.diagnose(agent)
        if json {
            try printJSON(diagnosis)
            return
        }
        say("verdict   \(diagnosis.verdict.rawValue)")
        say("why       \(diagnosis.summary)")
        if let pong = diagnosis.pongRttMs { say(String(format: "ping      pong in %.1f ms", pong)) } else { say("ping      no pong") }
        for probe in diagnosis.probes {
            let rtt = probe.rttMs.map { String(format: "%.1f ms", $0) } ?? "lost"
            say("probe     \(probe.encoding) \(probe.shape.rawValue) \(probe.size) B: \(rtt)")
        }
        if let largest = diagnosis.largestPassedBytes, diagnosis.verdict == .sizeBlackhole { say("largest   \(largest) B passed") }
        if let server = diagnosis.server {
            let c = server.counters
            say("server    data out \(c.dataFramesOut) frames / \(c.dataBytesOut) B, in \(c.dataFramesIn); pings \(c.pingsSent), pongs \(c.pongsReceived); writable \(c.isWritable), queued \(server.queuedBytes ?? 0) B; downlink \(server.downlinkMode.rawValue)")
            if let tcp = server.tcp {
                say(String(format: "tcp       rtt %.1f ms, retransmits %d (total %d), unacked %d, pmtu %d, mss %d", tcp.rttMs, tcp.retransmits, tcp.totalRetransmits, tcp.unackedSegments, tcp.pathMtu, tcp.sendMss))
            }
        }
        if let agent = diagnosis.agent {
            let c = agent.side.counters
            say("agent     data in \(c.dataFramesIn) frames, messages received \(c.messagesReceived), handled \(c.messagesHandled); decode errors \(c.decodeErrors); pongs \(c.pongsReceived)\(agent.agentFinding.map { "; finding: \($0)" } ?? "")")
            for reconnect in agent.reconnects.suffix(3) {
                say("reconnect \(ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: reconnect.time))) \(reconnect.reason)")
            }
        }
        say(diagnosis.actions.isEmpty ? "action    none" : "action    " + diagnosis.actions.joined(separator: "; "))
        // The newest two adverse entries are enough: this diagnosis's own, and the one before it.
        let history = try await client.verdicts(agent, limit: 2, adverseOnly: true, evidence: false)
        let mode = diagnosis.server?.downlinkMode
        say("history   " + Self.historyLine(fresh: diagnosis, mode: mode, history: history))
    }

    /// The fresh verdict with the last adverse one before it: a link healthy now on a fallback
    /// downlink still says why it is there.
    static func historyLine(fresh: LinkDiagnosis, mode: DownlinkMode?, history: [VerdictView]) -> String {
        let format = ISO8601DateFormatter()
        let now = fresh.verdict == .healthy ? "healthy" + (mode.map { " on the \($0.rawValue) downlink" } ?? "") : fresh.verdict.rawValue
        // Skip the entry this diagnosis recorded itself (times travel in whole seconds, so an
        // earlier verdict may share the diagnosis's second: compare what, not only when). An
        // entry it only extended (count 2 or more) began earlier: that is history, shown.
        let own = { (v: VerdictView) in v.source == .serverProbe && v.verdict == fresh.verdict && v.lastAt >= fresh.startedAt && v.count == 1 }
        guard let adverse = history.first(where: { $0.verdict.isAdverse && !own($0) }) else {
            return "\(now); no adverse verdict recorded before"
        }
        let origin = LinkProvenance.words(stage: adverse.stage, source: adverse.source)
        return "\(now); \(adverse.headline) since \(format.string(from: adverse.firstAt)) (\(adverse.verdict.rawValue), \(origin); \(adverse.count)x, last \(format.string(from: adverse.lastAt))), evidence: \(adverse.summary)"
    }

    private func printAddresses() async throws {
        let found = try await api.client().linkAddresses()
        if json {
            try printJSON(found)
            return
        }
        if found.isEmpty {
            say("no unclaimed failed connection attempts: every one seen was attributed to its agent, or there were none")
            return
        }
        let format = ISO8601DateFormatter()
        for entry in found {
            say("address   \(entry.address) (not attributed to any agent): \(entry.attempts.count) attempt(s)")
            for attempt in entry.attempts {
                let when = format.string(from: Date(timeIntervalSince1970: attempt.fact.closedAt))
                say("attempt   \(when) \(attempt.connectionTag ?? "-") \(attempt.verdict.rawValue) (\(attempt.stage.rawValue)): \(attempt.summary)")
            }
        }
    }
}
