/// The range every number on the wire must fall in, checked where a frame is decoded
/// (`WireCodec.decode`), so that no consumer ever meets NaN, an infinity, a negative count or a
/// value too large to convert. docs/protocol.md lists each field with its range.
public enum WireRange {
    /// Largest sequence number, counter, id or epoch: 2^53 − 1, exact in a JSON double, so every
    /// peer reads it back as the same number and sums of a few of them cannot overflow `Int`.
    public static let maxCount = (1 << 53) - 1
    /// Latest wall-clock time accepted, Unix seconds (the year 9999).
    public static let maxUnixSeconds = 253_402_300_799.0
    /// Longest duration accepted in any seconds field other than a command's timeout: ten years.
    public static let maxSeconds = 315_576_000.0
    /// Longest round trip accepted in a millisecond field: one day.
    public static let maxMilliseconds = 86_400_000.0
    /// Longest free text (reasons, findings, versions) on the wire; ids are shorter still.
    public static let maxTextBytes = 4096
    /// Longest id (command, stream, nonce, agent id, key).
    public static let maxIdBytes = 256

    /// Nil when `value` is a whole number in `range`; otherwise why not.
    static func count(_ name: String, _ value: Int, in range: ClosedRange<Int> = 0...maxCount) -> String? {
        range.contains(value) ? nil : "\(name) must be \(range.lowerBound)...\(range.upperBound), got \(value)"
    }

    /// Nil when `value` is finite and in `range`; otherwise why not.
    static func real(_ name: String, _ value: Double, in range: ClosedRange<Double>) -> String? {
        guard value.isFinite else { return "\(name) must be a finite number" }
        return range.contains(value) ? nil : "\(name) must be \(range.lowerBound)...\(range.upperBound), got \(value)"
    }

    static func time(_ name: String, _ value: Double) -> String? {
        real(name, value, in: 0...maxUnixSeconds)
    }

    static func text(_ name: String, _ value: String, limit: Int = maxTextBytes) -> String? {
        value.utf8.count <= limit ? nil : "\(name) must be at most \(limit) bytes"
    }

    /// `text` cut on a character boundary to at most `limit` bytes of UTF-8, so it fits a text field.
    public static func clipped(_ text: String, limit: Int = maxTextBytes) -> String {
        guard text.utf8.count > limit else { return text }
        var out = ""
        var bytes = 0
        for character in text {
            let size = character.utf8.count
            if bytes + size > limit { break }
            out.append(character)
            bytes += size
        }
        return out
    }

    static func id(_ name: String, _ value: String) -> String? {
        text(name, value, limit: maxIdBytes)
    }

    /// Nil when `values` has at most `count` entries of at most `bytes` bytes each; otherwise why not.
    static func list(_ name: String, _ values: [String], count: Int, bytes: Int) -> String? {
        guard values.count <= count else { return "\(name) must have at most \(count) entries, got \(values.count)" }
        for (index, value) in values.enumerated() where value.utf8.count > bytes {
            return "\(name)[\(index)] must be at most \(bytes) bytes"
        }
        return nil
    }
}

/// A wire value that knows the ranges of its own fields.
public protocol WireChecked {
    /// The first field out of range, as a sentence naming it; nil when every field is in range.
    func rangeProblem() -> String?
}

/// The first problem among several checks.
@inline(__always)
func firstProblem(_ checks: String?...) -> String? {
    for check in checks where check != nil { return check }
    return nil
}

extension Envelope: WireChecked {
    public func rangeProblem() -> String? {
        firstProblem(
            seq.flatMap { WireRange.count("seq", $0, in: 1...WireRange.maxCount) },
            ack.flatMap { WireRange.count("ack", $0) },
            message.rangeProblem().map { "body: \($0)" }
        )
    }
}

extension Message: WireChecked {
    public func rangeProblem() -> String? {
        switch self {
        case .challenge(let b): return b.rangeProblem()
        case .hello(let b): return b.rangeProblem()
        case .enroll(let b): return b.rangeProblem()
        case .welcome(let b): return b.rangeProblem()
        case .heartbeat(let b): return b.rangeProblem()
        case .configUpdate(let b): return b.rangeProblem()
        case .configApplied(let b): return b.rangeProblem()
        case .command(let b): return b.rangeProblem()
        case .cancel(let b): return b.rangeProblem()
        case .commandAck(let b): return b.rangeProblem()
        case .started(let b): return b.rangeProblem()
        case .output(let b): return b.rangeProblem()
        case .result(let b): return b.rangeProblem()
        case .chunk(let b): return b.rangeProblem()
        case .probe(let b): return b.rangeProblem()
        case .probeReply(let b): return b.rangeProblem()
        case .linkReport(let b): return b.rangeProblem()
        case .doctor(let b): return b.rangeProblem()
        case .doctorReady(let b): return b.rangeProblem()
        }
    }
}

extension Challenge: WireChecked {
    public func rangeProblem() -> String? {
        firstProblem(WireRange.id("nonce", nonce), WireRange.text("server_version", serverVersion))
    }
}

extension StreamPosition: WireChecked {
    public func rangeProblem() -> String? {
        firstProblem(WireRange.id("stream", stream), WireRange.count("seq", seq))
    }
}

extension AgentFacts: WireChecked {
    public func rangeProblem() -> String? {
        firstProblem(
            WireRange.id("facts.name", name),
            WireRange.id("facts.hostname", hostname),
            WireRange.id("facts.os", os),
            WireRange.id("facts.version", version)
        )
    }
}

extension Hello: WireChecked {
    public func rangeProblem() -> String? {
        firstProblem(
            WireRange.id("agent_id", agentId),
            WireRange.id("signature", signature),
            facts.rangeProblem(),
            WireRange.id("stream", stream),
            received.flatMap { $0.rangeProblem().map { "received.\($0)" } }
        )
    }
}

extension Enroll: WireChecked {
    public func rangeProblem() -> String? {
        firstProblem(
            WireRange.id("token", token),
            WireRange.id("public_key", publicKey),
            WireRange.id("signature", signature),
            facts.rangeProblem(),
            WireRange.id("stream", stream)
        )
    }
}

extension Welcome: WireChecked {
    public func rangeProblem() -> String? {
        firstProblem(
            WireRange.id("agent_id", agentId),
            WireRange.count("epoch", epoch),
            WireRange.id("stream", stream),
            received.flatMap { $0.rangeProblem().map { "received.\($0)" } },
            WireRange.count("heartbeat_id", heartbeatId),
            config.rangeProblem().map { "config: \($0)" },
            configSignature.flatMap { WireRange.id("config_signature", $0) },
            serverKey.flatMap { WireRange.id("server_key", $0) },
            name.flatMap { WireRange.id("name", $0) },
            nodes.flatMap { WireRange.list("nodes", $0, count: NodeURL.maxNodes, bytes: NodeURL.maxBytes) }
        )
    }
}

extension AgentConfig: WireChecked {
    /// The config's own validation (`problems()`), which covers every field's range.
    public func rangeProblem() -> String? { problems().first }
}

extension Heartbeat: WireChecked {
    public func rangeProblem() -> String? {
        firstProblem(
            WireRange.count("id", id),
            echo.flatMap { WireRange.count("echo", $0) },
            WireRange.time("time", time),
            metrics.flatMap { $0.rangeProblem().map { "metrics.\($0)" } }
        )
    }
}

extension HostMetrics: WireChecked {
    public func rangeProblem() -> String? {
        func bytes(_ name: String, _ value: Int64?) -> String? {
            value.flatMap { WireRange.count(name, Int($0)) }
        }
        func load(_ name: String, _ value: Double?) -> String? {
            value.flatMap { WireRange.real(name, $0, in: 0...1_000_000) }
        }
        return firstProblem(
            cpuPercent.flatMap { WireRange.real("cpu_percent", $0, in: 0...100) },
            bytes("memory_total_bytes", memoryTotalBytes), bytes("memory_used_bytes", memoryUsedBytes),
            bytes("disk_total_bytes", diskTotalBytes), bytes("disk_used_bytes", diskUsedBytes),
            load("load1", load1), load("load5", load5), load("load15", load15),
            uptimeSeconds.flatMap { WireRange.real("uptime_seconds", $0, in: 0...WireRange.maxSeconds) }
        )
    }
}

extension ConfigUpdate: WireChecked {
    public func rangeProblem() -> String? {
        firstProblem(config.rangeProblem().map { "config: \($0)" }, signature.flatMap { WireRange.id("signature", $0) })
    }
}

extension ConfigApplied: WireChecked {
    public func rangeProblem() -> String? { WireRange.count("version", version) }
}

extension CommandSpec: WireChecked {
    public func rangeProblem() -> String? {
        firstProblem(
            WireRange.id("command_id", commandId),
            WireRange.real("timeout_seconds", timeoutSeconds, in: WorkLimits.minTimeoutSeconds...WorkLimits.maxTimeoutSeconds),
            WireRange.count("expires_at", expiresAt, in: 0...Int(WireRange.maxUnixSeconds)),
            interpreter.flatMap { WireRange.text("interpreter", $0) },
            signature.flatMap { WireRange.id("signature", $0) }
        )
    }
}

extension Cancel: WireChecked {
    public func rangeProblem() -> String? {
        firstProblem(
            WireRange.id("command_id", commandId),
            WireRange.text("reason", reason),
            signature.flatMap { WireRange.id("signature", $0) }
        )
    }
}

extension CommandAck: WireChecked {
    public func rangeProblem() -> String? { WireRange.id("command_id", commandId) }
}

extension CommandStarted: WireChecked {
    public func rangeProblem() -> String? {
        firstProblem(
            WireRange.id("command_id", commandId),
            pid.flatMap { WireRange.count("pid", Int($0), in: 0...Int(Int32.max)) },
            WireRange.time("time", time)
        )
    }
}

extension CommandOutput: WireChecked {
    public func rangeProblem() -> String? {
        firstProblem(
            WireRange.id("command_id", commandId),
            WireRange.count("offset", offset, in: 0...WireLimits.maxMessageBytes)
        )
    }
}

extension CommandResult: WireChecked {
    public func rangeProblem() -> String? {
        firstProblem(
            WireRange.id("command_id", commandId),
            signal.flatMap { WireRange.count("signal", Int($0), in: 0...1024) },
            reason.flatMap { WireRange.text("reason", $0) },
            startedAt.flatMap { WireRange.time("started_at", $0) },
            WireRange.time("finished_at", finishedAt)
        )
    }
}

extension Chunk: WireChecked {
    public func rangeProblem() -> String? {
        firstProblem(
            WireRange.count("id", id),
            WireRange.count("count", count, in: 1...WireLimits.maxChunksPerMessage),
            WireRange.count("index", index, in: 0...(WireLimits.maxChunksPerMessage - 1))
        )
    }
}

extension Probe: WireChecked {
    public func rangeProblem() -> String? {
        firstProblem(WireRange.count("id", id), WireRange.count("size", size, in: 0...WireLimits.maxFrameBytes))
    }
}

extension ProbeReply: WireChecked {
    public func rangeProblem() -> String? {
        firstProblem(WireRange.count("id", id), WireRange.count("received_bytes", receivedBytes, in: 0...WireLimits.maxMessageBytes))
    }
}

extension LinkReport: WireChecked {
    public func rangeProblem() -> String? {
        firstProblem(
            side.rangeProblem().map { "side.\($0)" },
            reconnects.count <= LinkReport.maxReconnects ? nil : "reconnects must hold at most \(LinkReport.maxReconnects) records",
            reconnects.lazy.compactMap { $0.rangeProblem() }.first.map { "reconnects: \($0)" },
            agentFinding.flatMap { WireRange.text("agent_finding", $0) },
            (findings?.count ?? 0) <= LinkFinding.maxPerReport ? nil : "findings must hold at most \(LinkFinding.maxPerReport) records",
            findings?.lazy.compactMap { $0.rangeProblem() }.first.map { "findings: \($0)" },
            WireRange.real("consumer_stalled_seconds", consumerStalledSeconds, in: 0...WireRange.maxSeconds)
        )
    }
}

extension ReconnectRecord: WireChecked {
    public func rangeProblem() -> String? {
        firstProblem(WireRange.time("time", time), WireRange.text("reason", reason))
    }
}

extension LinkSideReport: WireChecked {
    public func rangeProblem() -> String? {
        firstProblem(
            counters.rangeProblem().map { "counters.\($0)" },
            tcp.flatMap { $0.rangeProblem().map { "tcp.\($0)" } },
            queuedBytes.flatMap { WireRange.count("queued_bytes", $0) },
            WireRange.time("time", time)
        )
    }
}

extension TCPInfoSnapshot: WireChecked {
    public func rangeProblem() -> String? {
        firstProblem(
            WireRange.real("rtt_ms", rttMs, in: 0...WireRange.maxMilliseconds),
            WireRange.real("rtt_variance_ms", rttVarianceMs, in: 0...WireRange.maxMilliseconds),
            WireRange.count("retransmits", retransmits), WireRange.count("total_retransmits", totalRetransmits),
            WireRange.count("unacked_segments", unackedSegments), WireRange.count("lost_segments", lostSegments),
            WireRange.count("path_mtu", pathMtu, in: 0...(1 << 20)), WireRange.count("send_mss", sendMss, in: 0...(1 << 20))
        )
    }
}

extension LinkCounters: WireChecked {
    public func rangeProblem() -> String? {
        let counts: [(String, Int)] = [
            ("data_frames_in", dataFramesIn), ("data_frames_out", dataFramesOut), ("data_bytes_in", dataBytesIn),
            ("data_bytes_out", dataBytesOut), ("control_frames_in", controlFramesIn), ("control_frames_out", controlFramesOut),
            ("messages_received", messagesReceived), ("messages_handled", messagesHandled), ("pings_sent", pingsSent),
            ("pongs_received", pongsReceived), ("decode_errors", decodeErrors), ("unknown_types", unknownTypes),
            ("unwritable_episodes", unwritableEpisodes),
        ]
        let times: [(String, Double?)] = [
            ("last_data_in", lastDataIn), ("last_data_out", lastDataOut), ("last_control_in", lastControlIn), ("last_control_out", lastControlOut),
        ]
        return firstProblem(
            counts.lazy.compactMap { WireRange.count($0.0, $0.1) }.first,
            times.lazy.compactMap { name, value in value.flatMap { WireRange.time(name, $0) } }.first,
            recentPongRttMs.count <= LinkCounters.maxRecentPongs ? nil : "recent_pong_rtt_ms must hold at most \(LinkCounters.maxRecentPongs) values",
            recentPongRttMs.lazy.compactMap { WireRange.real("recent_pong_rtt_ms", $0, in: 0...WireRange.maxMilliseconds) }.first,
            firstUnknownType.flatMap { WireRange.id("first_unknown_type", $0) }
        )
    }
}
