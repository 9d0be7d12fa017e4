import ArgumentParser
import Foundation
import RMMServer

/// `gururmm diagnose AGENT`: probes the agent's link now and prints the verdict, evidence and action.
struct DiagnoseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diagnose",
        abstract: "Probe an agent's link now: verdict, evidence, and what was done about it.",
        discussion: "Verdicts: healthy, agent-offline, agent-stalled, path-filters-data, size-blackhole, protocol-desync, write-blocked, half-open. See docs/diagnosis.md."
    )

    @OptionGroup var api: APIOptions
    @Argument(help: "Agent id or name.") var agent: String
    @Flag(name: .customLong("json"), help: "Print the whole diagnosis as JSON.") var json = false

    func run() async throws {
        let diagnosis: LinkDiagnosis = try await api.client().post("/api/v1/agents/\(pathEscape(agent))/diagnose", body: ReasonRequest(reason: nil))
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
    }
}
