import Foundation
import RMMProtocol

/// One envelope of every message type with every field set (optionals included), `seq` and `ack`
/// too: the list the extreme-value tests take their numeric fields from. A test checks with the
/// types' own reflection that no field is left out, so a field added later is covered or fails it.
public enum WireSamples {
    public static let config: AgentConfig = {
        var config = AgentConfig.defaults
        config.version = 3
        config.metricsInterval = 60
        config.labels = ["site": "lab"]
        config.commandEnvironment = ["LANG": "C"]
        return config
    }()

    public static let facts = AgentFacts(name: "web-1", hostname: "web-1.local", os: "Linux 6.1", version: "1.0.0")

    public static let metrics = HostMetrics(
        cpuPercent: 12.5, memoryTotalBytes: 1 << 33, memoryUsedBytes: 1 << 30, diskTotalBytes: 1 << 40, diskUsedBytes: 1 << 39,
        load1: 0.5, load5: 0.25, load15: 0.125, uptimeSeconds: 3600
    )

    public static let linkReport: LinkReport = {
        var counters = LinkCounters()
        counters.dataFramesIn = 10
        counters.dataFramesOut = 11
        counters.dataBytesIn = 1000
        counters.dataBytesOut = 1100
        counters.controlFramesIn = 3
        counters.controlFramesOut = 4
        counters.messagesReceived = 9
        counters.messagesHandled = 8
        counters.pingsSent = 2
        counters.pongsReceived = 2
        counters.decodeErrors = 1
        counters.unknownTypes = 1
        counters.firstUnknownType = "future"
        counters.lastDataIn = 1_750_000_000.25
        counters.lastDataOut = 1_750_000_000.5
        counters.lastControlIn = 1_750_000_000.75
        counters.lastControlOut = 1_750_000_001
        counters.recentPongRttMs = [1.5, 2.25]
        counters.unwritableEpisodes = 1
        counters.isWritable = true
        let tcp = TCPInfoSnapshot(rttMs: 0.5, rttVarianceMs: 0.25, retransmits: 1, totalRetransmits: 2, unackedSegments: 3,
                                  lostSegments: 0, pathMtu: 1500, sendMss: 1448)
        let side = LinkSideReport(counters: counters, tcp: tcp, queuedBytes: 64, downlinkMode: .binary, time: 1_750_000_002)
        return LinkReport(side: side, reconnects: [ReconnectRecord(time: 1_749_999_990, reason: "deadline")],
                          agentFinding: "downlink-quiet", consumerStalledSeconds: 1.5,
                          findings: [LinkFinding(kind: .challengeLost, time: 1_749_999_980, connectionId: "k_1", downlinkMode: .text, detail: "no challenge")])
    }()

    public static let result = CommandResult(
        commandId: "c_1", status: .failed, exitCode: 3, signal: 9, reason: "exit status 3", stdout: Data("out".utf8),
        stderr: Data("err".utf8), stdoutTruncated: true, stderrTruncated: false, startedAt: 1_750_000_000.5, finishedAt: 1_750_000_001.25
    )

    /// Every message type once, fields all set; reliable ones carry a `seq`, all an `ack`.
    public static let everyMessage: [Envelope] = [
        Envelope(.challenge(Challenge(nonce: "bm9uY2U=", serverVersion: "1.0.0")), ack: 1),
        Envelope(.hello(Hello(agentId: "a_1", signature: "c2ln", facts: facts, stream: "s-agent", received: StreamPosition(stream: "s-server", seq: 41))), ack: 1),
        Envelope(.enroll(Enroll(token: "tok", publicKey: "cHVi", signature: "c2ln", facts: facts, stream: "s-agent")), ack: 1),
        Envelope(.welcome(Welcome(agentId: "a_1", epoch: 3, stream: "s-server", received: StreamPosition(stream: "s-agent", seq: 9), heartbeatId: 12,
                                  config: config, configSignature: "c2ln", serverKey: "a2V5", name: "web-1", nodes: ["wss://node-2:7443/agent"])), ack: 9),
        Envelope(.heartbeat(Heartbeat(id: 5, echo: 4, time: 1_750_000_000.75, metrics: metrics)), ack: 1),
        Envelope(.configUpdate(ConfigUpdate(config: config, signature: "c2ln")), seq: 1, ack: 1),
        Envelope(.configApplied(ConfigApplied(version: 7)), seq: 2, ack: 1),
        Envelope(.command(CommandSpec(commandId: "c_1", kind: .script, text: "echo hi", interpreter: "/bin/sh", timeoutSeconds: 30,
                                      expiresAt: 1_750_000_300, signature: "c2ln")), seq: 42, ack: 1),
        Envelope(.cancel(Cancel(commandId: "c_1", reason: "operator asked", signature: "c2ln")), seq: 44, ack: 1),
        Envelope(.commandAck(CommandAck(commandId: "c_1", duplicate: true)), seq: 3, ack: 1),
        Envelope(.started(CommandStarted(commandId: "c_1", pid: 4242, time: 1_750_000_000.5)), seq: 4, ack: 1),
        Envelope(.output(CommandOutput(commandId: "c_1", stream: .stderr, offset: 1024, data: Data([0xde, 0xad]))), seq: 5, ack: 1),
        Envelope(.result(result), seq: 6, ack: 1),
        Envelope(.chunk(Chunk(id: 1, index: 0, count: 2, data: Data("{\"v\":1".utf8))), ack: 1),
        Envelope(.probe(Probe(id: 3, size: 4096, shape: .command, pad: "0123")), ack: 1),
        Envelope(.probeReply(ProbeReply(id: 3, receivedBytes: 4096)), ack: 1),
        Envelope(.linkReport(linkReport), ack: 1),
        Envelope(.doctor(DoctorHello(token: "secret.a2V5.system")), ack: 1),
        Envelope(.doctorReady(DoctorReady(budgetBytes: 65_000, lifetimeSeconds: 20, maxEchoes: 16)), ack: 1),
    ]

    /// The message types an agent sends; the others are the server's.
    public static let agentTypes: Set<String> = [
        "hello", "enroll", "heartbeat", "config_applied", "command_ack", "started", "output", "result", "chunk", "probe_reply", "link_report",
    ]
}
