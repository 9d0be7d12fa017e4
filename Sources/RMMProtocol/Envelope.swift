import Foundation

/// Every message type on the wire, with its body. Decoding and encoding live in `WireCodec`.
public enum Message: Sendable, Equatable {
    case challenge(Challenge)
    case hello(Hello)
    case enroll(Enroll)
    case welcome(Welcome)
    case heartbeat(Heartbeat)
    case configUpdate(ConfigUpdate)
    case configApplied(ConfigApplied)
    case command(CommandSpec)
    case cancel(Cancel)
    case commandAck(CommandAck)
    case started(CommandStarted)
    case output(CommandOutput)
    case result(CommandResult)
    case chunk(Chunk)
    case probe(Probe)
    case probeReply(ProbeReply)
    case linkReport(LinkReport)
    case doctor(DoctorHello)
    case doctorReady(DoctorReady)

    /// The `t` value of this message on the wire.
    public var type: String {
        switch self {
        case .challenge: return "challenge"
        case .hello: return "hello"
        case .enroll: return "enroll"
        case .welcome: return "welcome"
        case .heartbeat: return "heartbeat"
        case .configUpdate: return "config_update"
        case .configApplied: return "config_applied"
        case .command: return "command"
        case .cancel: return "cancel"
        case .commandAck: return "command_ack"
        case .started: return "started"
        case .output: return "output"
        case .result: return "result"
        case .chunk: return "chunk"
        case .probe: return "probe"
        case .probeReply: return "probe_reply"
        case .linkReport: return "link_report"
        case .doctor: return "doctor"
        case .doctorReady: return "doctor_ready"
        }
    }

    /// The command an agent's report is about (ack, started, output, result); nil for others.
    public var reportedCommandId: String? {
        switch self {
        case .commandAck(let ack): return ack.commandId
        case .started(let started): return started.commandId
        case .output(let output): return output.commandId
        case .result(let result): return result.commandId
        default: return nil
        }
    }

    /// Reliable messages carry a `seq`, are retransmitted until acknowledged and survive reconnects.
    public var isReliable: Bool {
        switch self {
        case .configUpdate, .configApplied, .command, .cancel, .commandAck, .started, .output, .result: return true
        case .challenge, .hello, .enroll, .welcome, .heartbeat, .chunk, .probe, .probeReply, .linkReport, .doctor, .doctorReady: return false
        }
    }
}

/// One frame's worth of protocol: `{"v":2,"t":"command","seq":42,"ack":17,"body":{...}}`.
public struct Envelope: Sendable, Equatable {
    public var version: Int
    public var seq: Int?
    public var ack: Int?
    public var message: Message

    public init(_ message: Message, seq: Int? = nil, ack: Int? = nil, version: Int = WireLimits.protocolVersion) {
        self.version = version
        self.seq = seq
        self.ack = ack
        self.message = message
    }
}
