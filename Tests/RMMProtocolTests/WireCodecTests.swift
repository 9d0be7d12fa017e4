import Foundation
import Testing
@testable import RMMProtocol

/// Sample values for every message type, shared by the codec, chunking and fuzz tests.
enum Samples {
    static let facts = AgentFacts(name: "web-1", hostname: "web-1.example", os: "linux", version: "1.2.3")

    static let config: AgentConfig = {
        var config = AgentConfig.defaults
        config.version = 7
        config.labels = ["siteName": "Berlin", "MY_LABEL": "x", "role": "db"]
        config.commandEnvironment = ["MY_VAR": "1", "PATH_EXTRA": "/opt/bin", "lowerCamelVar": "y", "GURURMM": "1"]
        return config
    }()

    static let result = CommandResult(
        commandId: "c_1", status: .failed, exitCode: 3, signal: 9, reason: "exit 3",
        stdout: Data("out\n".utf8), stderr: Data([0, 1, 2, 255]), stdoutTruncated: true, stderrTruncated: false,
        startedAt: 1_750_000_000.5, finishedAt: 1_750_000_001.25
    )

    /// One envelope per `Message` case; reliable ones carry a seq.
    static let envelopes: [Envelope] = [
        Envelope(.challenge(Challenge(nonce: "bm9uY2U=", serverVersion: "1.0.0"))),
        Envelope(.hello(Hello(agentId: "a_1", signature: "c2ln", facts: facts, stream: "s-agent", received: StreamPosition(stream: "s-server", seq: 41)))),
        Envelope(.hello(Hello(agentId: "a_1", signature: "c2ln", facts: facts, stream: "s-agent", received: nil))),
        Envelope(.enroll(Enroll(token: "tok", publicKey: "cHVi", signature: "c2ln", facts: facts, stream: "s-agent"))),
        Envelope(.welcome(Welcome(agentId: "a_1", epoch: 3, stream: "s-server", received: StreamPosition(stream: "s-agent", seq: 9), heartbeatId: 12, config: config)), ack: 9),
        Envelope(.heartbeat(Heartbeat(id: 5, echo: 4, time: 1_750_000_000.75, metrics: HostMetrics(cpuPercent: 12.5, memoryTotalBytes: 1 << 33, memoryUsedBytes: 1 << 30, diskTotalBytes: 1 << 40, diskUsedBytes: 1 << 39, load1: 0.5, load5: 0.25, load15: 0.125, uptimeSeconds: 3600))), ack: 17),
        Envelope(.heartbeat(Heartbeat(id: 1, echo: nil, time: 0))),
        Envelope(.configUpdate(ConfigUpdate(config: config)), seq: 1, ack: 0),
        Envelope(.configApplied(ConfigApplied(version: 7)), seq: 2),
        Envelope(.command(CommandSpec(commandId: "c_1", kind: .shell, text: "echo 'hi' | tr a-z A-Z", timeoutSeconds: 30, expiresAt: 1_750_000_300)), seq: 42, ack: 17),
        Envelope(.command(CommandSpec(commandId: "c_2", kind: .script, text: "#!/bin/bash\necho \"ü\" / \\ \u{0}", interpreter: "/bin/bash", timeoutSeconds: 1, expiresAt: 0)), seq: 43),
        Envelope(.cancel(Cancel(commandId: "c_1", reason: "operator asked")), seq: 44),
        Envelope(.commandAck(CommandAck(commandId: "c_1", duplicate: true)), seq: 3, ack: 42),
        Envelope(.started(CommandStarted(commandId: "c_1", pid: 4242, time: 1_750_000_000.5)), seq: 4),
        Envelope(.started(CommandStarted(commandId: "c_1", pid: nil, time: 1)), seq: 4),
        Envelope(.output(CommandOutput(commandId: "c_1", stream: .stderr, offset: 1024, data: Data([0xde, 0xad, 0xbe, 0xef]))), seq: 5),
        Envelope(.result(result), seq: 6),
        Envelope(.result(CommandResult(commandId: "c_2", status: .succeeded, finishedAt: 2)), seq: 7),
        Envelope(.chunk(Chunk(id: 1, index: 0, count: 2, data: Data("{\"v\":1".utf8)))),
        Envelope(.probe(Probe(id: 3, size: 4096, shape: .command, pad: #"{"t":"command"} 0123"#))),
        Envelope(.probeReply(ProbeReply(id: 3, receivedBytes: 4096)), ack: 44),
        Envelope(.linkReport(linkReport), ack: 44),
        Envelope(.doctor(DoctorHello(token: "secret.a2V5.system"))),
        Envelope(.doctorReady(DoctorReady(budgetBytes: 65_000, lifetimeSeconds: 20, maxEchoes: 16))),
    ]

    /// Every field set, so a key that does not survive snake_case round trips is caught.
    static let linkReport: LinkReport = {
        var counters = LinkCounters()
        counters.dataFramesIn = 10
        counters.messagesReceived = 9
        counters.messagesHandled = 8
        counters.decodeErrors = 1
        counters.firstUnknownType = "from_the_future"
        counters.lastDataIn = 1_750_000_000
        counters.lastControlIn = 1_750_000_001
        counters.recentPongRttMs = [0.5, 1.5]
        counters.unwritableEpisodes = 2
        counters.isWritable = false
        let tcp = TCPInfoSnapshot(rttMs: 1.25, rttVarianceMs: 0.5, retransmits: 3, totalRetransmits: 7, unackedSegments: 4, lostSegments: 2, pathMtu: 1500, sendMss: 1448)
        let side = LinkSideReport(counters: counters, tcp: tcp, queuedBytes: 65_536, downlinkMode: .poll, time: 1_750_000_002)
        return LinkReport(side: side, reconnects: [ReconnectRecord(time: 1_749_999_999, reason: "peer closed with 4010: downlink=poll")],
                          agentFinding: "downlink-quiet", consumerStalledSeconds: 2.5)
    }()

    static func json(_ data: Data) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }
}

@Suite("WireCodec")
struct WireCodecTests {
    let codec = WireCodec()

    @Test("every message case is covered by the samples")
    func samplesCoverEveryCase() {
        let types = Set(Samples.envelopes.map(\.message.type))
        #expect(types == ["challenge", "hello", "enroll", "welcome", "heartbeat", "config_update", "config_applied",
                          "command", "cancel", "command_ack", "started", "output", "result", "chunk",
                          "probe", "probe_reply", "link_report", "doctor", "doctor_ready"])
    }

    @Test("round trip of every message", arguments: Samples.envelopes)
    func roundTrip(_ envelope: Envelope) throws {
        let data = try codec.encode(envelope)
        let decoded = try codec.decode(data)
        #expect(decoded == envelope)
        // Encoding is deterministic (sorted keys), so a second round gives the same bytes.
        #expect(try codec.encode(decoded) == data)
    }

    @Test("envelope shape on the wire: v, t, seq, ack, body")
    func envelopeShape() throws {
        let envelope = Envelope(.command(CommandSpec(commandId: "c_9", kind: .shell, text: "ls /tmp", timeoutSeconds: 30, expiresAt: 1_750_000_060)), seq: 42, ack: 17)
        let object = try Samples.json(try codec.encode(envelope))
        #expect(object["v"] as? Int == 2)
        #expect(object["t"] as? String == "command")
        #expect(object["seq"] as? Int == 42)
        #expect(object["ack"] as? Int == 17)
        let body = try #require(object["body"] as? [String: Any])
        #expect(Set(body.keys) == ["command_id", "expires_at", "kind", "text", "timeout_seconds"])
        #expect(body["command_id"] as? String == "c_9")
        // Slashes are not escaped (keeps base64 chunks within their size budget).
        let text = String(decoding: try codec.encode(envelope), as: UTF8.self)
        #expect(text.contains("ls /tmp"))
    }

    @Test("snake_case keys in nested bodies")
    func snakeCaseNested() throws {
        let object = try Samples.json(try codec.encode(Samples.envelopes[4]))  // welcome
        let body = try #require(object["body"] as? [String: Any])
        #expect(body["heartbeat_id"] as? Int == 12)
        #expect(body["agent_id"] as? String == "a_1")
        let config = try #require(body["config"] as? [String: Any])
        for key in ["heartbeat_interval", "heartbeat_deadline", "max_concurrent_commands", "output_cap_bytes", "command_environment", "allowed_interpreters"] {
            #expect(config[key] != nil, "missing \(key)")
        }
        let result = try Samples.json(try codec.encode(Envelope(.result(Samples.result), seq: 1)))
        let resultBody = try #require(result["body"] as? [String: Any])
        #expect(Set(resultBody.keys).isSuperset(of: ["command_id", "exit_code", "stdout_truncated", "stderr_truncated", "started_at", "finished_at"]))
    }

    @Test("heartbeat and chunk carry no seq; nil fields are omitted")
    func optionalFieldsOmitted() throws {
        let object = try Samples.json(try codec.encode(Envelope(.heartbeat(Heartbeat(id: 1, echo: nil, time: 0)))))
        #expect(object["seq"] == nil)
        #expect(object["ack"] == nil)
    }

    /// DESIGN: labels and the command environment are operator data; their keys must reach the agent as typed.
    @Test("dictionary keys in labels and commandEnvironment are not case-converted")
    func dictionaryKeysSurvive() throws {
        let envelope = Envelope(.configUpdate(ConfigUpdate(config: Samples.config)), seq: 1)
        let data = try codec.encode(envelope)
        let decoded = try codec.decode(data)
        guard case .configUpdate(let update) = decoded.message else {
            Issue.record("decoded \(decoded.message.type)")
            return
        }
        #expect(update.config.labels == Samples.config.labels)
        #expect(update.config.commandEnvironment == Samples.config.commandEnvironment)
        #expect(update.config.commandEnvironment["MY_VAR"] == "1")
        #expect(update.config.labels["siteName"] == "Berlin")
    }

    @Test("dictionary keys are written to the wire unchanged")
    func dictionaryKeysOnTheWire() throws {
        let data = try codec.encode(Envelope(.configUpdate(ConfigUpdate(config: Samples.config)), seq: 1))
        let object = try Samples.json(data)
        let body = try #require(object["body"] as? [String: Any])
        let config = try #require(body["config"] as? [String: Any])
        let labels = try #require(config["labels"] as? [String: String])
        let env = try #require(config["command_environment"] as? [String: String])
        #expect(Set(labels.keys) == Set(Samples.config.labels.keys))
        #expect(Set(env.keys) == Set(Samples.config.commandEnvironment.keys))
        // And keys an agent might send in camelCase or snake_case are read as written.
        let text = #"{"v":2,"t":"config_update","seq":1,"body":{"config":{"version":1,"heartbeat_interval":15,"heartbeat_deadline":45,"ping_interval":15,"max_concurrent_commands":4,"max_queued_commands":256,"output_cap_bytes":4096,"output_chunk_bytes":1024,"ack_deadline":10,"max_message_bytes":4096,"labels":{"site_name":"a","siteName":"b"},"allowed_interpreters":[],"command_environment":{"MY_VAR":"1","my_var":"2"}}}}"#
        guard case .configUpdate(let update) = try codec.decode(Data(text.utf8)).message else {
            Issue.record("not a config_update")
            return
        }
        #expect(update.config.labels == ["site_name": "a", "siteName": "b"])
        #expect(update.config.commandEnvironment == ["MY_VAR": "1", "my_var": "2"])
    }

    // MARK: decode errors

    @Test("not JSON is malformed", arguments: ["", "hello", "{", "[1,2]", "null", "{\"v\":\"1\",\"t\":\"heartbeat\"}", "\u{FEFF}{}"])
    func notJSON(_ text: String) {
        #expect(throws: WireDecodeError.self) { try codec.decode(Data(text.utf8)) }
        do {
            _ = try codec.decode(Data(text.utf8))
        } catch {
            guard case .malformed(let why) = error else {
                Issue.record("expected malformed, got \(error)")
                return
            }
            #expect(why.contains("not a GuruRMM envelope"))
        }
    }

    @Test("invalid UTF-8 bytes are malformed")
    func invalidBytes() {
        #expect(throws: WireDecodeError.self) { try codec.decode(Data([0xff, 0xfe, 0x00, 0x7b])) }
    }

    @Test("wrong version is unsupportedVersion", arguments: [0, 1, 3, -1, 99])
    func wrongVersion(_ v: Int) {
        let text = #"{"v":\#(v),"t":"heartbeat","body":{"id":1,"time":0}}"#
        #expect(throws: WireDecodeError.unsupportedVersion(v)) { try codec.decode(Data(text.utf8)) }
    }

    @Test("unknown t is unknownType, even without seq or body")
    func unknownType() throws {
        #expect(throws: WireDecodeError.unknownType("telemetry_v9")) {
            try codec.decode(Data(#"{"v":2,"t":"telemetry_v9","seq":3,"body":{"x":1}}"#.utf8))
        }
        #expect(throws: WireDecodeError.unknownType("future")) {
            try codec.decode(Data(#"{"v":2,"t":"future"}"#.utf8))
        }
        // The name is cut so a hostile peer cannot make the report arbitrarily long.
        let long = String(repeating: "x", count: 500)
        #expect(throws: WireDecodeError.unknownType(String(repeating: "x", count: 64) + "…[+436 bytes]")) {
            try codec.decode(Data(#"{"v":2,"t":"\#(long)"}"#.utf8))
        }
    }

    @Test("reliable message without seq is malformed", arguments: ["config_update", "config_applied", "command", "cancel", "command_ack", "started", "output", "result"])
    func reliableWithoutSeq(_ type: String) throws {
        let sample = try #require(Samples.envelopes.first { $0.message.type == type })
        var object = try Samples.json(try codec.encode(sample))
        object.removeValue(forKey: "seq")
        let data = try JSONSerialization.data(withJSONObject: object)
        #expect(throws: WireDecodeError.malformed("'\(type)' needs a seq")) { try codec.decode(data) }
    }

    @Test("unreliable messages decode without seq", arguments: ["challenge", "hello", "enroll", "welcome", "heartbeat", "chunk"])
    func unreliableWithoutSeq(_ type: String) throws {
        let sample = try #require(Samples.envelopes.first { $0.message.type == type })
        #expect(sample.seq == nil)
        #expect(try codec.decode(try codec.encode(sample)) == sample)
    }

    @Test("seq must be positive and ack not negative")
    func seqAndAckBounds() {
        #expect(throws: WireDecodeError.malformed("seq must be positive")) {
            try codec.decode(Data(#"{"v":2,"t":"cancel","seq":0,"body":{"command_id":"c","reason":"r"}}"#.utf8))
        }
        #expect(throws: WireDecodeError.malformed("ack must not be negative")) {
            try codec.decode(Data(#"{"v":2,"t":"heartbeat","ack":-1,"body":{"id":1,"time":0}}"#.utf8))
        }
        #expect((try? codec.decode(Data(#"{"v":2,"t":"heartbeat","ack":0,"body":{"id":1,"time":0}}"#.utf8)))?.ack == 0)
    }

    @Test("bad body is malformed and names the type and the field")
    func badBody() throws {
        func why(_ text: String) throws -> String {
            do {
                _ = try codec.decode(Data(text.utf8))
            } catch {
                if case .malformed(let why) = error { return why }
                Issue.record("expected malformed, got \(error)")
                return ""
            }
            Issue.record("decoded \(text)")
            return ""
        }
        let missing = try why(#"{"v":2,"t":"command","seq":1,"body":{"command_id":"c","text":"ls","timeout_seconds":1,"valid_for_seconds":1}}"#)
        #expect(missing.contains("bad 'command' body"))
        #expect(missing.contains("missing"))
        #expect(missing.contains("kind"))

        let wrongType = try why(#"{"v":2,"t":"command_ack","seq":1,"body":{"command_id":5,"duplicate":false}}"#)
        #expect(wrongType.contains("bad 'command_ack' body"))
        #expect(wrongType.contains("wrong type"))
        #expect(wrongType.contains("body.") )

        let badEnum = try why(#"{"v":2,"t":"command","seq":1,"body":{"command_id":"c","kind":"powershell","text":"ls","timeout_seconds":1,"valid_for_seconds":1}}"#)
        #expect(badEnum.contains("invalid value"))
        #expect(badEnum.contains("kind"))

        let noBody = try why(#"{"v":2,"t":"heartbeat"}"#)
        #expect(noBody.contains("bad 'heartbeat' body"))
        #expect(noBody.contains("missing 'body'"))

        let badBase64 = try why(#"{"v":2,"t":"output","seq":1,"body":{"command_id":"c","stream":"stdout","offset":0,"data":"***"}}"#)
        #expect(badBase64.contains("bad 'output' body"))

        let badState = try why(#"{"v":2,"t":"result","seq":1,"body":{"command_id":"c","status":"exploded","stdout":"","stderr":"","stdout_truncated":false,"stderr_truncated":false,"finished_at":1}}"#)
        #expect(badState.contains("status"))

        // The description is a single line, safe for a close reason.
        #expect(!missing.contains("\n"))
    }

    @Test("a missing field is named as it appears on the wire (snake_case)")
    func missingFieldUsesWireName() throws {
        do {
            _ = try codec.decode(Data(#"{"v":2,"t":"command","seq":1,"body":{"command_id":"c","kind":"shell","text":"ls","valid_for_seconds":1}}"#.utf8))
            Issue.record("decoded")
        } catch {
            #expect(error == .malformed("bad 'command' body (missing 'body.timeout_seconds')"))
        }
    }

    /// Found by the protocol fuzz: a label key with a line break made a two-line close reason and log line.
    @Test("text the peer chose is one short line in an error")
    func errorTextIsOneLine() throws {
        var object = try Samples.json(try codec.encode(Envelope(.configUpdate(ConfigUpdate(config: Samples.config)), seq: 1)))
        var body = try #require(object["body"] as? [String: Any])
        var config = try #require(body["config"] as? [String: Any])
        config["labels"] = ["line\nbreak" + String(repeating: "k", count: 500): 5]
        body["config"] = config
        object["body"] = body
        let data = try JSONSerialization.data(withJSONObject: object)
        do {
            _ = try codec.decode(data)
            Issue.record("decoded a label that is not a string")
        } catch {
            #expect(!error.description.contains("\n") && error.description.count < 200, "\(error.description)")
            #expect(error.description.contains(#"labels.line\nbreak"#))
        }
        #expect(throws: WireDecodeError.unknownType(#"a\nb"#)) { try codec.decode(Data(#"{"v":2,"t":"a\nb"}"#.utf8)) }
    }

    @Test("too large is tooLarge, before parsing")
    func tooLarge() {
        let data = Data(repeating: 0x20, count: 101)  // not even JSON: the size check comes first
        #expect(throws: WireDecodeError.tooLarge(101, limit: 100)) { try codec.decode(data, limit: 100) }
        let exact = Data(#"{"v":2,"t":"heartbeat","body":{"id":1,"time":0}}"#.utf8)
        #expect((try? codec.decode(exact, limit: exact.count)) != nil)
        #expect(throws: WireDecodeError.tooLarge(exact.count, limit: exact.count - 1)) { try codec.decode(exact, limit: exact.count - 1) }
        let huge = Data(count: WireLimits.maxMessageBytes + 1)
        #expect(throws: WireDecodeError.tooLarge(WireLimits.maxMessageBytes + 1, limit: WireLimits.maxMessageBytes)) { try codec.decode(huge) }
    }

    @Test("unknown extra fields are ignored (forward compatible)")
    func extraFieldsIgnored() throws {
        let text = #"{"v":2,"t":"cancel","seq":2,"ack":1,"future":true,"body":{"command_id":"c","reason":"r","priority":9}}"#
        #expect(try codec.decode(Data(text.utf8)) == Envelope(.cancel(Cancel(commandId: "c", reason: "r")), seq: 2, ack: 1))
    }

    @Test("error descriptions")
    func descriptions() {
        #expect(WireDecodeError.unknownType("x").description == "unknown message type 'x'")
        #expect(WireDecodeError.tooLarge(5, limit: 4).description.contains("5 bytes"))
        #expect(WireDecodeError.unsupportedVersion(1).description.contains("speaks 2"))
        #expect(WireDecodeError.malformed("why").description == "malformed message: why")
    }
}

extension Envelope: CustomTestStringConvertible {
    public var testDescription: String { "\(message.type) seq=\(seq.map(String.init) ?? "-")" }
}
