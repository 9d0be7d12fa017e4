import Foundation
import RMMTestSupport
import Testing
@testable import RMMProtocol

/// Every numeric field of every message type, in both directions, with values no honest peer
/// sends: decoding never traps, and what it accepts is in range, so no consumer can trap on it.
@Suite("Numeric fields at their extremes")
struct NumericFieldTests {
    let codec = WireCodec()
    /// Tokens no number field can hold: not JSON, or beyond every numeric type.
    static let unrepresentable: Set<String> = ["NaN", "nan", "Infinity", "-Infinity", "1e309", "-1e309", "1180591620717411303424", "-1180591620717411303424"]

    @Test("the samples hold every message type, with every field of every type set")
    func samplesAreComplete() {
        #expect(Set(WireSamples.everyMessage.map(\.message.type)) == Set(WireDamage.typeNames))
        for envelope in WireSamples.everyMessage {
            #expect(envelope.ack != nil, "\(envelope.message.type): no ack")
            #expect(!envelope.message.isReliable || envelope.seq != nil, "\(envelope.message.type): no seq")
            let unset = Self.unsetFields(of: envelope.message, path: envelope.message.type)
            #expect(unset.isEmpty, "fields left unset in the sample, so their extremes go untested: \(unset)")
            #expect(envelope.rangeProblem() == nil, "the sample itself is out of range: \(envelope.rangeProblem() ?? "")")
        }
    }

    @Test("each sample's numbers are all found, so each gets every extreme")
    func everyNumberIsFound() throws {
        for envelope in WireSamples.everyMessage {
            let data = try codec.encode(envelope)
            let fields = NumericExtremes.fields(in: data)
            // v and ack at least; the body's own numbers follow.
            #expect(fields.contains { $0.path == "v" } && fields.contains { $0.path == "ack" }, "\(envelope.message.type): \(fields.map(\.path))")
            for field in fields {
                let token = String(decoding: data[field.range], as: UTF8.self)
                #expect(Double(token) != nil, "\(envelope.message.type).\(field.path) is not a number: \(token)")
            }
        }
    }

    @Test("extreme values in every numeric field decode to a typed refusal or to a message in range, never a trap")
    func extremes() throws {
        var refused = 0, accepted = 0
        for envelope in WireSamples.everyMessage {
            let data = try codec.encode(envelope)
            for variant in NumericExtremes.variants(of: data) {
                let codec = self.codec
                switch Result(catching: { () throws(WireDecodeError) in try codec.decode(variant.data) }) {
                case .success(let decoded):
                    accepted += 1
                    #expect(decoded.rangeProblem() == nil, "\(envelope.message.type) \(variant): accepted out of range")
                    // What cannot be represented at all is never accepted.
                    #expect(!Self.unrepresentable.contains(variant.token), "\(envelope.message.type) \(variant) was accepted")
                    try Self.exerciseConsumers(of: decoded)
                case .failure(let error):
                    refused += 1
                    let text = error.description
                    #expect(!text.contains("\n") && text.count <= 300, "\(variant): \(text.debugDescription)")
                }
            }
        }
        #expect(refused > 1000 && accepted > 100, "refused \(refused), accepted \(accepted)")
    }

    @Test("the long-poll query refuses what is not a plain number in range, naming the parameter")
    func pollQuery() throws {
        for field in DownlinkPollQuery.Field.allCases {
            for token in NumericExtremes.tokens + ["", "abc", "1 ", "0x10", "+1", String(repeating: "9", count: 400)] {
                let parameters = [(name: field.rawValue, value: Optional(token))]
                do {
                    let query = try DownlinkPollQuery(parameters: parameters)
                    #expect((0...WireRange.maxCount).contains(query.after) && (0...DownlinkPollQuery.maxWaitSeconds).contains(query.wait), "\(field)=\(token)")
                } catch {
                    #expect(error.description.hasPrefix(field.rawValue), "\(field)=\(token): \(error)")
                }
            }
        }
        let empty = try DownlinkPollQuery(parameters: [])
        #expect(empty == DownlinkPollQuery(after: 0))
        let written = DownlinkPollQuery(after: 42, wait: 20)
        let read = try DownlinkPollQuery(parameters: written.queryString.split(separator: "&").map {
            let pair = $0.split(separator: "=", maxSplits: 1).map(String.init)
            return (pair[0], pair.count > 1 ? pair[1] : nil)
        })
        #expect(read == written)
    }

    /// What the agent and server compute from a decoded message, for messages they compute with.
    static func exerciseConsumers(of envelope: Envelope) throws {
        switch envelope.message {
        case .command(let spec):
            let verifier = WorkVerifier(agentId: "a_1", serverKey: Data(repeating: 1, count: 32).base64EncodedString())
            _ = verifier.refusal(spec, at: StreamPosition(stream: "s", seq: envelope.seq ?? 1), now: 1_750_000_000)
            _ = WorkSigning.payload(agentId: "a_1", position: StreamPosition(stream: "s", seq: 1), command: spec)
        case .linkReport(let report):
            let counters = report.side.counters
            _ = counters.messagesReceived - counters.messagesHandled
            _ = Int(report.consumerStalledSeconds)
            _ = counters.pongRttSummary
        case .welcome(let welcome):
            _ = Int(welcome.config.heartbeatDeadline)
            _ = try WorkSigning.payload(agentId: "a_1", position: StreamPosition(stream: "s", seq: 0), config: welcome.config)
        case .configUpdate(let update):
            _ = Int(update.config.heartbeatDeadline)
        case .heartbeat(let heartbeat):
            _ = Date(timeIntervalSince1970: heartbeat.time)
        default:
            break
        }
    }

    /// The stored properties (recursively) that are nil or empty in `value`.
    static func unsetFields(of value: Any, path: String) -> [String] {
        let mirror = Mirror(reflecting: value)
        if mirror.displayStyle == .optional {
            guard let wrapped = mirror.children.first?.value else { return [path] }
            return unsetFields(of: wrapped, path: path)
        }
        if mirror.displayStyle == .collection {
            return mirror.children.isEmpty ? [path] : unsetFields(of: mirror.children.first?.value as Any, path: path + "[0]")
        }
        if mirror.displayStyle == .dictionary {
            return mirror.children.isEmpty ? [path] : []
        }
        guard mirror.displayStyle == .struct || mirror.displayStyle == .enum else { return [] }
        return mirror.children.flatMap { child in unsetFields(of: child.value, path: path + "." + (child.label ?? "?")) }
    }
}

@Suite("Text fitted to the wire")
struct ClippedTextTests {
    @Test("clipped text fits the byte bound on a character boundary, and short text is untouched")
    func clipped() {
        #expect(WireRange.clipped("short") == "short")
        let long = String(repeating: "é🦀", count: 2000)
        let cut = WireRange.clipped(long)
        #expect(cut.utf8.count <= WireRange.maxTextBytes && cut.utf8.count > WireRange.maxTextBytes - 4)
        #expect(long.hasPrefix(cut))
        #expect(CommandResult(commandId: "c", status: .cancelled, reason: cut, finishedAt: 1).rangeProblem() == nil)
    }
}
