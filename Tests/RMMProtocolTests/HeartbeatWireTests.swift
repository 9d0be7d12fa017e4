import Foundation
import PropertyBased
import RMMTestSupport
import Testing
@testable import RMMProtocol

/// The heartbeat fast path (`HeartbeatWire`) must only ever agree with Foundation's coders: what
/// it writes decodes the general way to the same envelope, and whatever it reads, the general
/// decoder reads the same way (or it declines and leaves the frame to the general decoder).
@Suite("Heartbeat fast path")
struct HeartbeatWireTests {
    static let codec = WireCodec()

    /// A heartbeat envelope as either side sends it, metrics sometimes (the fast path declines those).
    static let heartbeats = Generator<Envelope, Shrink.None<Envelope>> { rng in
        let heartbeat = Heartbeat(
            id: WireGen.integer(&rng), echo: WireGen.optional(&rng) { WireGen.integer(&$0) }, time: WireGen.double(&rng),
            metrics: WireGen.chance(5, &rng) ? WireGen.metrics(&rng) : nil
        )
        return WireGen.envelope(.heartbeat(heartbeat), &rng)
    }

    /// The general decoder's answer, as a value to compare.
    static func general(_ data: Data) -> Result<Envelope, WireDecodeError> {
        do { return .success(try codec.generalDecode(data)) } catch { return .failure(error) }
    }

    static func fast(_ data: Data) -> Envelope? { data.withUnsafeBytes(HeartbeatWire.decode) }

    @Test("what the fast path writes, the general decoder reads as the same envelope; what Foundation writes, the fast path reads the same")
    func agreesBothWays() async {
        await Self.heartbeats.fuzz(iterations: 2000) { envelope in
            let written = try Self.codec.encode(envelope)
            try ensure(Self.general(written) == .success(envelope), "fast-written \(String(decoding: written, as: UTF8.self)) reads back differently")
            let foundation = try Self.codec.generalEncode(envelope)
            if case .heartbeat(let heartbeat) = envelope.message, heartbeat.metrics == nil {
                // Declining is always allowed; for a clock reading in plain notation it would be a waste.
                let read = Self.fast(written)
                try ensure(read == envelope || (read == nil && (heartbeat.time.description.contains("e") || heartbeat.time.description.count > 40)),
                           "the fast path misreads or declines its own frame \(String(decoding: written, as: UTF8.self))")
                let again = Self.fast(foundation)
                try ensure(again == nil || again == envelope, "the fast path misreads \(String(decoding: foundation, as: UTF8.self))")
            } else {
                try ensure(Self.fast(written) == nil, "the fast path took a heartbeat with metrics")
            }
        }
    }

    @Test("on damaged heartbeat frames the fast path accepts only what the general decoder accepts, as the same envelope")
    func damagedNeverDisagree() async {
        let damaged = Generator<Data, Shrink.None<Data>> { rng in
            var envelope = Self.heartbeats.run(using: &rng)
            if case .heartbeat(var heartbeat) = envelope.message {
                heartbeat.metrics = nil
                envelope.message = .heartbeat(heartbeat)
            }
            return WireGen.nicked((try? Self.codec.encode(envelope)) ?? Data(), &rng)
        }
        var taken = 0
        await damaged.fuzz(iterations: 3000) { data in
            guard let read = Self.fast(data) else { return }
            taken += 1
            try ensure(Self.general(data) == .success(read), "fast path read \(String(decoding: data, as: UTF8.self)) as \(read); the general decoder: \(Self.general(data))")
        }
        #expect((FuzzSettings.current.iterations ?? 3000) < 100 || taken > 0, "no damaged frame was still a heartbeat the fast path read")
    }

    @Test("frames the general decoder must judge are left to it", arguments: [
        #"{"body":{"id":1,"time":2},"t":"heartbeat","v":3}"#,  // unsupported version: its error, not ours
        #"{"body":{"id":1,"time":2},"seq":0,"t":"heartbeat","v":2}"#,  // seq 0 is malformed
        #"{"ack":-1,"body":{"id":1,"time":2},"t":"heartbeat","v":2}"#,
        #"{"body":{"id":01,"time":2},"t":"heartbeat","v":2}"#,  // not JSON
        #"{"body":{"id":1,"time":2.},"t":"heartbeat","v":2}"#,
        #"{"body":{"echo":null,"id":1,"time":2},"t":"heartbeat","v":2}"#,
        #"{"body":{"id":1,"time":2}, "t":"heartbeat","v":2}"#,  // whitespace
        #"{"body":{"id":1,"time":2},"t":"heartbeat","v":2,"v":2}"#,  // a repeated key
        #"{"body":{"id":1},"body":{"id":1,"time":2},"t":"heartbeat","v":2}"#,  // a bad value, then a good one
        #"{"body":{"id":1,"time":2},"t":"hello","t":"heartbeat","v":2}"#,
        #"{"body":{"id":1,"metrics":{},"time":2},"t":"heartbeat","v":2}"#,
        #"{"body":{"id":1,"time":2},"t":"hello","v":2}"#,
        #"{"body":{"id":12345678901234567890,"time":2},"t":"heartbeat","v":2}"#,
    ])
    func declines(_ frame: String) {
        #expect(Self.fast(Data(frame.utf8)) == nil)
    }

    @Test("the plain frame reads the same both ways")
    func plainFrame() throws {
        let frame = Data(#"{"ack":7,"body":{"echo":41,"id":42,"time":1764467890.25},"t":"heartbeat","v":2}"#.utf8)
        let expected = Envelope(.heartbeat(Heartbeat(id: 42, echo: 41, time: 1_764_467_890.25)), ack: 7)
        #expect(Self.fast(frame) == expected)
        #expect(Self.general(frame) == .success(expected))
        #expect(try Self.codec.encode(expected) == frame)
    }
}
